"""The HTTP edge: the ASGI routing table, auth and body limits, the relay endpoints of every
client dialect, the stream pump and its continuation, the admin views, and the server that runs
it all (one process or several workers). Everything that knows HTTP lives here."""
