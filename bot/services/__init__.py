"""The use cases the shells call: each one function (or method) per thing a user asks for, over
the stages below. The CLI and the web parse input and show outcomes; the rules live here."""
