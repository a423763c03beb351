"""Developer tools: the demo generator, `ime validate` and `ime bench`."""
