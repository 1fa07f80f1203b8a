"""Using a finished run: load its model as trained (runmodel), chat with it (chat), serve it
over an OpenAI-compatible HTTP API (protocol, engine, app, server), and export it (export/)."""
