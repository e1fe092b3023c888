"""The local stack (never deployed): moto server, provisioning, verifying gateway, event pump,
timer. Nothing in app.py or chalicelib knows it exists: it only sets the environment."""
