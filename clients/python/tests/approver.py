"""A scripted human: answers approvals and feedback through the client's approver side, as a
chat bot or a person in the inbox would, with the principal's own token."""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping

from rekall import Approval, Feedback, Rekall, RekallError

# What to do with an approval: "approve", "reject", or None to leave it.
Vote = Callable[[Approval], str | None]
Answer = Callable[[Feedback], dict[str, Any] | None]


class ScriptedApprover:
    def __init__(
        self,
        base_url: str,
        token_of: Callable[[str], str],
        votes: Mapping[str, Vote] | None = None,
        answers: Mapping[str, Answer] | None = None,
    ) -> None:
        self.votes = votes or {}
        self.answers = answers or {}
        principals = set(self.votes) | set(self.answers)
        self.clients = {p: Rekall(api_key=token_of(p), base_url=base_url) for p in principals}
        self.done: list[tuple[str, str, str]] = []  # (principal, request id, what)
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ScriptedApprover:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for c in self.clients.values():
            c.close()
        if self.errors:
            raise self.errors[0]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._round()
            except RekallError as e:
                # A server being restarted by the test: try again next round.
                if e.status != 0:
                    self.errors.append(e)
                    return
            except BaseException as e:  # noqa: BLE001 - handed to the test
                self.errors.append(e)
                return
            self._stop.wait(0.1)

    def _round(self) -> None:
        for principal, vote in self.votes.items():
            for a in self.clients[principal].approvals.list(status="pending").items:
                choice = vote(a)
                if choice == "approve":
                    self.clients[principal].approvals.approve(a.id, comment="Ship it")
                elif choice == "reject":
                    self.clients[principal].approvals.reject(a.id, reason="Not today")
                else:
                    continue
                self.done.append((principal, a.id, choice))
        for principal, answer in self.answers.items():
            for f in self.clients[principal].feedback.list(status="pending").items:
                data = answer(f)
                if data is None:
                    continue
                self.clients[principal].feedback.submit(f.id, data=data)
                self.done.append((principal, f.id, "feedback"))
