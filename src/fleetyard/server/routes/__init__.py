"""One router per resource family; each route is a few lines around a service call."""
