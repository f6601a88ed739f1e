"""Articles: the content each discussion hangs under, shipped as Markdown files with front matter."""
