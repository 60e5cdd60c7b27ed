"""The lab's messaging plane: a real Mosquitto, simulated vehicles and the backend's bridge."""
