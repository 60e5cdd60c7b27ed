"""The lab: a deliberately flawed multi-tenant IoT provider (REST and real MQTT).

The lab is a *target*. It never imports probe code; it shares only the check catalogue ids
with the rest of iotvet, so its ground truth speaks the same language as iotvet's findings.
"""
