"""The lab's REST backend (FastAPI)."""
