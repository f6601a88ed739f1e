"""Articles: what each discussion is about, shipped as Markdown files with front matter."""
