"""The pytest side: the plugin pytest loads (``plugin``, the ``seed_claims`` entry point), the
session's settings and state (``session``), one claim judged (``judging``), the start-up checks
(``preflight``) and the training progress line (``progress``). It sits on top of both sides;
importing it loads no torch (a session loads it when it resolves its device or trains)."""
