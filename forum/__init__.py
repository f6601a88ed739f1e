"""forum: a live, threaded discussion under an article."""
