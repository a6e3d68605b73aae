from trustq.cli import app

app(prog_name="trustq")
