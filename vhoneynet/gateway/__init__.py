"""The gateway (honeywall), in two layers whose imports point one way.

- `gateway.config`: what goes on the gateway's config disk (ruleset, IPS, capture, reject),
  computed as text and data from a topology; no backends, nothing live.
- `gateway.live`: operations on a running honeynet through its backends (control, verify,
  alerts); they may import `gateway.config`, never the reverse.
"""
