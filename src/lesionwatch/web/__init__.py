"""The web application: upload studies, watch jobs run, explore results in a NiiVue 2D/3D viewer.

`jobs` keeps the queue in SQLite and runs each job in its own process through the workflows; `uploads` checks
and stores what users send (types by content, safe zip extraction); `app` is the FastAPI server and its REST API
(OpenAPI at /docs), which the pages in `static/` use. It calls workflows and never models or training directly.
"""
