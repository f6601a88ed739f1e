"""Reply notifications: subscriptions, the bell, the mail outbox and its sender, Atom feeds."""
