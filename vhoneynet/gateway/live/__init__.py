"""Live operations on a running honeynet's gateway, through its backends: data control,
verify, alerts. They may import `gateway.config`; nothing in `gateway.config` imports them."""
