"""The demo bank: sample enterprise systems for `pasarela demo` and the tests."""
