"""Reply rules: posting, editing and deleting, each in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError

from forum.accounts.directory import members_named
from forum.accounts.standing import require_active
from forum.articles.passages import check_quote, names_passage
from forum.articles.service import with_bodies
from forum.boundary import parse_id
from forum.db import insert_sql, model_from_row, write_returning
from forum.errors import Forbidden, NotFound
from forum.event_types import AccountDeleted, ReplyDeleted, ReplyEdited, ReplyPosted
from forum.events import EventBus, Transaction
from forum.images.policy import ImagePolicy
from forum.markdown import mention_keys, render_reply
from forum.ratelimits import LimitRules, RateLimiter
from forum.replies.pinning import unpin_in
from forum.replies.revisions import keep_revision
from forum.validation import ValidationError, text_field
from forum.visibility import counted_change, is_moderator, thread_rows
from models import Article, Reply, ReplyRevision, ReplyStatus, User

BODY_MAX = 10_000
OWN_DUPLICATE = "You have just posted exactly this. Say something new?"
EDITED_MEANWHILE = "This reply was edited meanwhile (another page?): reload it and try again."
THREAD_DUPLICATE = "Someone has just posted exactly this here. Say something of your own?"


def check_body(body: object) -> str:
    """The reply text, or ValidationError with a message for the body field."""
    errors: dict[str, str] = {}
    text = text_field(errors, "body", body, min_length=1, max_length=BODY_MAX, label="Reply")
    if errors:
        raise ValidationError(errors)
    return text


def parse_parent_id(value: object, field: str = "parent_id") -> int | None:
    """A parent id from a form ("" means the article), JSON (null) or a query; ValidationError
    on field when it is no id at all (an id that is no reply is NotFound later)."""
    if value is None or value == "":
        return None
    parent_id = parse_id(value)
    if parent_id is None:
        raise ValidationError({field: f"{field} must be a reply id."})
    return parent_id


async def post_reply(
    article: Article,
    author: User,
    body: object,
    parent_id: object = None,
    *,
    bus: EventBus,
    limiter: RateLimiter,
    images: ImagePolicy,
    max_depth: int,
    passage: object = None,
    quote: object = None,
) -> Reply:
    """Post a reply to the article or to one of its replies; nothing is written on bad input.

    Replies nest at most max_depth levels deep (a reply to the article is the first level).
    A reply to the article may be about one of its passages: passage names its anchor and
    quote words of it (forum.articles.passages checks both).
    What it sets off (notifications, mail, live pages) reacts to its ReplyPosted event.
    """
    require_active(author)
    moderator = is_moderator(author)
    if article.locked and not moderator:
        raise Forbidden("This discussion is locked: no new replies.")
    parent_key = parse_parent_id(parent_id)
    # The article may have come without its bodies (article_to_post_in): only a quote reads them.
    about = (
        check_quote(await with_bodies(article), passage, quote)
        if names_passage(passage, quote)
        else None
    )
    if about is not None and parent_key is not None:
        raise ValidationError({"passage": "Only a reply to the article can be about a passage."})
    parent = None
    if parent_key is not None:
        parent = await Reply.filter(
            thread_rows(author), id=parent_key, article_id=article.id
        ).first()
        if parent is None:
            raise NotFound("That reply does not exist in this discussion.")
        if parent.status != ReplyStatus.VISIBLE:
            raise ValidationError({"parent_id": "That reply was removed; reply to another one."})
        if parent.depth + 1 >= max_depth:
            raise ValidationError(
                {
                    "parent_id": f"Replies nest at most {max_depth} levels deep:"
                    " answer a reply further up this chain."
                }
            )
    text = check_body(body)
    await _refuse_duplicate(author, text, limiter.rules)
    if not moderator:
        await _refuse_thread_duplicate(article.id, text, limiter.rules)
        age = datetime.now(UTC) - author.created_at
        await limiter.check_post(author.id, age.total_seconds() / 3600)
    mentioned = mention_keys(text)
    html = await _render(text, images, mentioned)
    async with bus.transaction() as tx:
        if parent is not None and not parent.has_replies:
            await Reply.filter(id=parent.id).update(has_replies=True)
        reply = await _insert_reply(article, author, parent, text, html, about)
        await tx.emit(
            ReplyPosted(
                article_id=article.id,
                reply_id=reply.id,
                reply_count_change=counted_change(None, reply.status),
                author_id=author.id,
                parent_author_id=parent.author_id if parent else None,
                mentioned=mentioned,
            )
        )
        if not moderator:
            # Again, now that the article's row is locked (its stream position is taken) until
            # commit: of concurrent posts of one text, the later ones see the first and roll back.
            await _refuse_thread_duplicate(article.id, text, limiter.rules, besides=reply.id)
    return reply


async def _insert_reply(
    article: Article,
    author: User,
    parent: Reply | None,
    text: str,
    html: str,
    about: tuple[str, str] | None,
) -> Reply:
    """The new reply, written by hand (the write path runs this for every reply, and
    Reply.create builds its INSERT anew each time): every column is given, so the Reply is
    made from the same values, as Reply.create makes it, with the id the database chose."""
    row = {
        "article_id": article.id,
        "author_id": author.id,
        "parent_id": parent.id if parent else None,
        "depth": parent.depth + 1 if parent else 0,
        "ancestry": f"{parent.ancestry}{parent.id}/" if parent else "",
        "source": text,
        "html": html,
        "passage": about[0] if about else None,
        "quote": about[1] if about else None,
        "status": ReplyStatus.VISIBLE.value,
        "created_at": datetime.now(UTC),
        "edited_at": None,
        "has_replies": False,
        "hidden_reason": None,
        "hidden_note": "",
        "score": 0,
        "pinned_at": None,
    }
    sql = insert_sql(Reply, list(row)) + " RETURNING id"
    inserted = await write_returning(Reply, sql, list(row.values()))
    reply = model_from_row(Reply, id=inserted[0]["id"], **row)
    reply.article, reply.author = article, author
    if parent is not None:
        reply.parent = parent
    return reply


async def _render(text: str, images: ImagePolicy, mentioned: tuple[str, ...] | None = None) -> str:
    """The reply's HTML, each @name of a member a link to their page (who is notified of it
    is forum.notifications.mentions' business, on the reply's event); mentioned: the text's
    mention_keys, when the caller has them already."""
    keys = mention_keys(text) if mentioned is None else mentioned
    members = await members_named(keys)
    return render_reply(text, images, {key: user.username for key, user in members.items()})


async def _refuse_duplicate(author: User, text: str, rules: LimitRules) -> None:
    if not rules.enabled:
        return
    since = datetime.now(UTC) - timedelta(seconds=rules.duplicate_window_seconds)
    if await Reply.filter(author_id=author.id, source=text, created_at__gte=since).exists():
        raise ValidationError({"body": OWN_DUPLICATE})


def _comparable(text: str) -> str:
    """Text as the thread's duplicate guard compares it: runs of whitespace as one space, and
    case folded, so that spacing and capitals do not make spam new."""
    return " ".join(text.split()).casefold()


async def _refuse_thread_duplicate(
    article_id: int, text: str, rules: LimitRules, *, besides: int | None = None
) -> None:
    """ValidationError when anyone posted the same text (as _comparable sees it) in this
    thread within the duplicate window: many fresh accounts must not post one message."""
    if not rules.enabled:
        return
    since = datetime.now(UTC) - timedelta(seconds=rules.duplicate_window_seconds)
    recent = Reply.filter(article_id=article_id, created_at__gte=since)
    if besides is not None:
        recent = recent.exclude(id=besides)
    # Whitespace and case cannot be compared in portable SQL; the window holds few replies.
    wanted = _comparable(text)
    for source in await recent.values_list("source", flat=True):
        if _comparable(str(source)) == wanted:
            raise ValidationError({"body": THREAD_DUPLICATE})


async def _own_reply(reply_id: int, user: User) -> Reply:
    require_active(user)
    reply = (
        await Reply.filter(id=reply_id, status=ReplyStatus.VISIBLE)
        .select_related("article")
        .first()
    )
    if reply is None:
        raise NotFound("That reply does not exist.")
    if reply.author_id != user.id:
        raise Forbidden("You can only change your own replies.")
    return reply


class EditWindowClosed(Forbidden):
    """The author's edit window for this reply has closed."""

    def __init__(self, window_seconds: int) -> None:
        minutes = max(window_seconds // 60, 1)
        span = "1 minute" if minutes == 1 else f"{minutes} minutes"
        super().__init__(
            f"Replies can be edited for {span} after posting; this one no longer."
            " Copy your text if you want to keep it."
        )


def editable_until(reply: Reply, window_seconds: int) -> datetime:
    """The moment the author's edit window closes."""
    return reply.created_at + timedelta(seconds=window_seconds)


async def edit_reply(
    reply_id: int,
    user: User,
    body: object,
    window_seconds: int,
    *,
    bus: EventBus,
    images: ImagePolicy,
) -> Reply:
    """Replace the text of the user's own reply within the edit window."""
    reply = await _own_reply(reply_id, user)
    if datetime.now(UTC) > editable_until(reply, window_seconds):
        raise EditWindowClosed(window_seconds)
    text = check_body(body)
    html = await _render(text, images)
    try:
        async with bus.transaction() as tx:
            await keep_revision(reply)
            reply.source, reply.html, reply.edited_at = text, html, datetime.now(UTC)
            await reply.save(update_fields=["source", "html", "edited_at"])
            await tx.emit(ReplyEdited(article_id=reply.article_id, reply_id=reply.id))
    except IntegrityError:
        # Two edits at once took the same version number: the later one rolled back whole.
        raise ValidationError({"body": EDITED_MEANWHILE}) from None
    return reply


@dataclass(frozen=True)
class Deletion:
    """What a deletion left: a stub that keeps the tree's shape, or the topmost reply removed."""

    stub: Reply | None
    removed_id: int | None
    #: How the thread's count of replies readers see changed.
    reply_count_change: int


async def delete_reply(reply_id: int, user: User, *, bus: EventBus) -> Deletion:
    """Delete the user's own reply.

    A reply with replies under it stays as a "[deleted]" stub so the tree keeps its shape;
    without any it disappears, and so does every stub above it left with nothing under it.
    """
    reply = await _own_reply(reply_id, user)
    async with bus.transaction() as tx:
        # A stub is never pinned (a reply gone altogether takes its pin with it).
        await unpin_in(tx, reply)
        outcome = await _delete(reply)
        gone_or_stub = outcome.removed_id if outcome.removed_id is not None else reply.id
        await tx.emit(
            ReplyDeleted(
                article_id=reply.article_id,
                reply_id=gone_or_stub,
                reply_count_change=outcome.reply_count_change,
                passage=reply.passage or "",
            )
        )
    return outcome


async def _delete(reply: Reply) -> Deletion:
    # Only from visible, checked in the statement itself: a moderator may have hidden it since
    # it was read, and the reply count must change once.
    still_visible = Reply.filter(id=reply.id, status=ReplyStatus.VISIBLE)
    if await Reply.filter(parent_id=reply.id).exists():
        if not await still_visible.update(status=ReplyStatus.DELETED, source="", html=""):
            raise NotFound("That reply does not exist.")
        # Its earlier texts go with its text: the author deleted what they wrote.
        await ReplyRevision.filter(reply_id=reply.id).delete()
        change = counted_change(reply.status, ReplyStatus.DELETED)
        reply.status, reply.source, reply.html = ReplyStatus.DELETED, "", ""
        return Deletion(stub=reply, removed_id=None, reply_count_change=change)
    removed_id = reply.id
    parent_id = reply.parent_id
    if not await still_visible.delete():
        raise NotFound("That reply does not exist.")
    while parent_id is not None:
        if await Reply.filter(parent_id=parent_id).exists():
            break
        await Reply.filter(id=parent_id).update(has_replies=False)
        parent = await Reply.get_or_none(id=parent_id, status=ReplyStatus.DELETED)
        if parent is None:
            break
        removed_id, parent_id = parent.id, parent.parent_id
        await parent.delete()
    return Deletion(
        stub=None, removed_id=removed_id, reply_count_change=counted_change(reply.status, None)
    )


async def delete_replies_of(event: AccountDeleted, tx: Transaction) -> None:
    """Hook of AccountDeleted, inside its transaction: when its owner chose so, every visible
    reply of the account goes as its author's own deletion would (a "[deleted]" stub where
    replies answer it, gone otherwise), each with its ReplyDeleted for the open pages. Hidden
    ones stay hidden, for the moderators' record."""
    if not event.delete_replies:
        return
    # Deepest first: a reply answered only by the account's own replies then goes too.
    ids = (
        await Reply.filter(author_id=event.user_id, status=ReplyStatus.VISIBLE)
        .order_by("-depth", "-id")
        .values_list("id", flat=True)
    )
    for reply_id in ids:
        reply = await Reply.get_or_none(id=reply_id, status=ReplyStatus.VISIBLE)
        if reply is None:
            continue
        await unpin_in(tx, reply)
        outcome = await _delete(reply)
        gone_or_stub = outcome.removed_id if outcome.removed_id is not None else reply.id
        await tx.emit(
            ReplyDeleted(
                article_id=reply.article_id,
                reply_id=gone_or_stub,
                reply_count_change=outcome.reply_count_change,
                passage=reply.passage or "",
            )
        )


async def rename_replies_of(event: AccountDeleted, tx: Transaction) -> None:
    """Hook of AccountDeleted, inside its transaction: when its owner kept the account's
    replies, each one that shows its author to someone (visible, or hidden for moderators) gets
    a ReplyEdited, so that open pages render it again, by "[deleted account]", and pages that
    catch up replay it so. (The name lives only on the account's row: every later rendering
    reads the new one.)"""
    if event.delete_replies:
        return
    rows = (
        await Reply.filter(
            author_id=event.user_id, status__in=[ReplyStatus.VISIBLE, ReplyStatus.HIDDEN]
        )
        .order_by("article_id", "id")
        .values_list("id", "article_id")
    )
    for reply_id, article_id in rows:
        await tx.emit(ReplyEdited(article_id=int(article_id), reply_id=int(reply_id)))
