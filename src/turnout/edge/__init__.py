"""The HTTP edge: the ASGI routing table, auth and body limits, the relay endpoints of every
client dialect, the stream pump and the admin views. Everything that knows HTTP lives here."""
