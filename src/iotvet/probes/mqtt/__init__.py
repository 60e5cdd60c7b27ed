"""The MQTT probe: victim-confirmed segregation tests against a provider's broker (see docs/MQTT.md)."""

from iotvet.probes.mqtt.engine import MqttRunSummary, ProbeOptions, probe_mqtt

__all__ = ["MqttRunSummary", "ProbeOptions", "probe_mqtt"]
