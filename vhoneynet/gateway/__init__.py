"""The gateway (honeywall): data control and capture configuration rendered for its config disk."""
