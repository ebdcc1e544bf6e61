from seecodes.cli import app

app()
