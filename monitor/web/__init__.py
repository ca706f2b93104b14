"""The web app (``monitor serve``, ``monitor run --web``): dashboard pages, JSON API, Atom feed.

Where things are: ``app.py`` builds the FastAPI app and its security headers; ``auth.py``
decides who may write (token, sign-in cookie, CSRF); ``monitor/guard.py`` (shared with the
fetcher) refuses URLs into the network the monitor runs in; ``views.py reads what pages and API show;
``actions.py`` changes things (add, pause, check now, ack, mute); ``api.py`` and
``pages.py`` are the two faces over them; ``archived.py`` serves archived pages in a
sandbox; ``feed.py`` is the Atom feed; ``server.py`` runs uvicorn.
"""
