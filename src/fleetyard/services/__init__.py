"""Use cases between the engines and the entry points: the server's services, the
HTTP client, and the wire schemas the server and the site agents share."""
