"""The life cycle without AWS: the claim's decision, the changes, the transition table and
the retry loop, on plain records."""

from dataclasses import replace

import pytest

from chalicelib import lifecycle
from chalicelib.images import Content, Failure, Image, Status, Upload
from chalicelib.lifecycle import Claim, Seen

NOW = "2026-12-02T01:00:00.000Z"
EARLIER = "2026-12-02T00:50:00.000Z"
LATER = "2026-12-02T01:10:00.000Z"


def image(status: Status = Status.AWAITING_UPLOAD, **fields) -> Image:
    return Image(
        id="img-1",
        ownerId="u",
        ownerName="U",
        filename="a.jpg",
        declaredType="image/jpeg",
        status=status,
        uploadId="up-1",
        createdAt=EARLIER,
        updatedAt=EARLIER,
        version=4,
        **fields,
    )


def upload(status: Status = Status.AWAITING_UPLOAD, **fields) -> Upload:
    return Upload(
        imageId="img-1",
        uploadId="up-1",
        ownerId="u",
        ownerName="U",
        filename="a.jpg",
        status=status,
        createdAt=EARLIER,
        expiresAt=LATER,
        key="uploads/img-1/up-1",
        **fields,
    )


def content(upload_id: str = "up-0") -> Content:
    return Content(upload_id, f"uploads/img-1/{upload_id}", 10, 4, 3, "png", "ab", 1, {})


def seen(image_=None, upload_=None, **facts) -> Seen:
    found = upload_ or upload()
    return Seen(
        image=image_ or image(found.status),
        upload=found,
        upload_id=facts.pop("upload_id", "up-1"),
        now=NOW,
        lease_end=facts.pop("lease_end", LATER if found.status == Status.PROCESSING else None),
        take_over_claims_before=facts.pop("take_over_claims_before", None),
        max_attempts=3,
        **facts,
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (seen(image(Status.DELETED)), Claim.GONE),
        (seen(upload_id="up-old"), Claim.SUPERSEDED),
        (seen(upload_id="up-old", overwritten=True), Claim.OVERWRITTEN),
        (seen(), Claim.TAKE),
        (seen(upload_=upload(Status.PROCESSING, attempts=1)), Claim.BUSY),
        (seen(upload_=upload(Status.PROCESSING, attempts=1), lease_end=EARLIER), Claim.TAKE),
        (
            seen(
                upload_=upload(Status.PROCESSING, attempts=1, claimedAt=EARLIER),
                take_over_claims_before=NOW,
            ),
            Claim.TAKE,
        ),
        (seen(upload_=upload(Status.PROCESSING, attempts=3), lease_end=EARLIER), Claim.GIVE_UP),
        (seen(upload_=upload(Status.PROCESSING, attempts=3)), Claim.BUSY),
        (seen(upload_=upload(Status.FAILED)), Claim.FAILED_AGAIN),
        (seen(upload_=upload(Status.EXPIRED)), Claim.DONE),
        (seen(upload_=upload(Status.EXPIRED), arrived=True), Claim.TAKE),
        (seen(upload_=upload(Status.READY)), Claim.DONE),
        (seen(upload_=upload(Status.READY), overwritten=True), Claim.TAKE),
    ],
)
def test_a_claim_decides_from_what_it_read(case, expected):
    assert lifecycle.decide_claim(case) is expected


def test_an_image_that_is_gone_is_gone_whatever_else_was_seen():
    assert lifecycle.decide_claim(replace(seen(), image=None, overwritten=True)) is Claim.GONE


def test_a_claim_takes_the_upload_under_a_lease_with_one_attempt_more():
    claimed_image, claimed_upload = lifecycle.claim(
        image(failure=Failure("corrupt", "x")), upload(attempts=1), NOW, LATER
    )

    assert (claimed_image.status, claimed_image.version) == (Status.PROCESSING, 5)
    assert (claimed_image.failure, claimed_image.uploadedAt, claimed_image.updatedAt) == (
        None,
        NOW,
        NOW,
    )
    assert claimed_upload.status == Status.PROCESSING
    assert (claimed_upload.attempts, claimed_upload.claimedAt) == (2, NOW)
    assert claimed_upload.leaseUntil == LATER


def test_a_failed_verdict_keeps_the_served_version_unless_it_was_overwritten():
    served = content()
    failure = Failure("corrupt", "damaged")
    processing = image(Status.PROCESSING, content=served)
    running = upload(Status.PROCESSING)

    kept, _ = lifecycle.verdict(
        processing, running, NOW, content=None, failure=failure, duration_ms=5, keep_served=True
    )
    dropped, failed = lifecycle.verdict(
        processing, running, NOW, content=None, failure=failure, duration_ms=5, keep_served=False
    )

    assert (kept.status, kept.content, kept.failure) == (Status.FAILED, served, failure)
    assert dropped.content is None
    assert (failed.status, failed.failure, failed.durationMs) == (Status.FAILED, failure, 5)


def test_a_served_replacement_gives_the_image_its_name_and_type():
    replacing = upload(Status.PROCESSING, replaces="up-0", renames=True, declaredType="image/png")
    replacing = replace(replacing, filename="b.png")

    ready, _ = lifecycle.verdict(
        image(Status.PROCESSING, content=content()),
        replacing,
        NOW,
        content=content("up-1"),
        failure=None,
        duration_ms=1,
        keep_served=True,
    )

    assert (ready.status, ready.filename, ready.declaredType) == (
        Status.READY,
        "b.png",
        "image/png",
    )


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda: lifecycle.claim(image(Status.FAILED), upload(Status.FAILED), NOW, LATER),
            id="failed to processing",
        ),
        pytest.param(
            lambda: lifecycle.replacement(image(Status.DELETED), "up-2", NOW),
            id="deleted to awaiting_upload",
        ),
        pytest.param(
            lambda: lifecycle.expire(
                image(Status.READY), upload(Status.READY), NOW, Failure("x", "y")
            ),
            id="ready to expired",
        ),
        pytest.param(
            lambda: lifecycle.release(image(Status.READY), upload(Status.READY), NOW),
            id="ready to awaiting_upload, on an upload",
        ),
    ],
)
def test_a_change_the_life_cycle_does_not_have_is_refused(change):
    with pytest.raises(lifecycle.IllegalTransition):
        change()


def test_every_status_may_be_deleted_and_an_edit_keeps_it():
    for status in Status:
        assert lifecycle.tombstone(image(status), NOW).status == Status.DELETED
    edited = lifecycle.edit(image(Status.READY), NOW, title="new")
    assert (edited.status, edited.title, edited.version) == (Status.READY, "new", 5)


class Lost(Exception):
    pass


def test_a_lost_write_reads_again_and_writes_again_until_it_gives_up():
    tries, reads = [], []

    def write(state: int) -> str:
        tries.append(state)
        raise Lost

    def read_again(state: int) -> int:
        reads.append(state)
        return state + 1

    with pytest.raises(RuntimeError, match="gave up"):
        lifecycle.retrying(0, write, read_again, lost=Lost, gave_up=lambda: RuntimeError("gave up"))
    assert tries == [0, 1, 2]
    assert reads == [0, 1, 2]


def test_a_write_that_wins_after_losing_returns_its_result():
    outcomes = iter([Lost(), "written"])

    def write(_: int) -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = lifecycle.retrying(
        0, write, lambda state: state, lost=Lost, gave_up=lambda: RuntimeError()
    )
    assert result == "written"
