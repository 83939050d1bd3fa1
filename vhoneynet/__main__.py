from vhoneynet.cli import app

app(prog_name="vhoneynet")
