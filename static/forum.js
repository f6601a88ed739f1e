// Small progressive enhancements on top of htmx; the forum works without this file.
document.addEventListener("htmx:after:swap", (event) => {
  // A reply form opened in place takes the focus, so keyboard users can type at once.
  const target = event.detail?.ctx?.target;
  const field = target?.querySelector?.("textarea[data-autofocus]");
  if (field) field.focus();
});
