"""The records and errors every other layer shares. Imports nothing else from iotvet."""
