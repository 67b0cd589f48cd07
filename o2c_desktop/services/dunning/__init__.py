"""Dunning: reminder levels, runs that propose one letter per customer, and producing them.

Levels (edited in the app, Permission.EDIT_SETTINGS): a days-past-due threshold, a letter
template, a channel (letter or e-mail) and a fee in one currency (charged only on letters in
that currency: there are no exchange rates). Thresholds rise strictly with the level, so
"the highest level an item reached" is one comparison per level.

A run for a date D (Permission.RUN_DUNNING), domain.md "Dunning":
- Items: open invoices past due at D (D − due date ≥ 1 day, or ≥ the first level's threshold
  when that is 0), issued by D. What is dunned of an item is its open amount less its disputed
  part (`Invoice.disputed_amount`, the sum over disputes still open or in review, capped at the
  open amount); an item disputed in full is left out. Open and disputed amounts are those of
  the ledger as it stands when the run is proposed (the maintained columns, through the
  partial index on open items), never rolled back to D: a run dated last Friday must not remind
  a customer of an invoice paid or disputed since.
- Each item reaches the highest level whose threshold its days past due meet (0: none yet).
- One letter per customer and currency (currencies are never added together: a customer with
  overdue EUR and USD items gets two letters), at the highest level its items reached, carrying
  every overdue undisputed item in that currency with the level each reached.
- A letter is proposed only when some item reached a level higher than the one it was last
  dunned at (`Invoice.dunning_level`, recorded when a letter is produced: the maximum level of
  the item over produced letters, the same as reading DunningLetterItem, without joining every
  earlier run). So a customer whose items were all dunned at their level already gets no new
  letter; once one item climbs a level, or a new item becomes overdue enough to reach level 1,
  the letter lists all its overdue items again.
- The customer's unapplied payments and open credit notes in the letter's currency are netted
  against its overdue total: the letter asks for the net amount, and lists its items, then
  "less unapplied payments/credits", then the net amount due. When nothing is left overdue
  after netting, there is no letter.
- A customer with an open promise to pay (not kept, not broken, not cancelled at D; see
  services.promises) is skipped entirely, in every currency. Skipped customers are counted:
  `skipped_promised` (would have had a letter), `skipped_credited` (would have had one, but its
  unapplied payments/credits cover all that is overdue), `skipped_disputed` (would have had one
  but for disputed items, and has none).
All of it is one grouped query over the open items and set-based inserts (`INSERT … SELECT` for
the letters' items, COPY/executemany for the letters): 200,000 customers and 300,000 open items
never pass through Python objects.

Proposing a run supersedes an earlier run still waiting to be produced (it is marked cancelled):
two proposals must not remind the same customer twice. A run being produced at that moment is
not cancelled: the proposal is refused until the production has finished (see lease). The
reviewer may leave letters out (`set_included`). `produce_run` renders one PDF per included
letter (dunning_letters, with the statements' letterhead) into a folder; a letter whose level's
channel is e-mail is also sent, with the PDF attached, through the statements' SMTP settings
and logged in the statements' delivery log (kind "dunning"). For each letter delivered, in the
same unit of work: the letter's file, SHA-256 and time, the level reached on each item
(`Invoice.dunning_level`, audited per invoice), an Activity on the customer ("Reminder: Second
reminder") and an audit row.

Only one pass produces a run at a time (a lease on the run, `lease`): a second is refused with
who is producing it since when, and recording never records a letter twice.

A letter is not produced when one of its items changed since the proposal (paid, in part or in
full, or disputed), or its customer's unapplied payments or credit notes did: it is reported
and left for the next proposal, which will have the right figures. A letter whose e-mail could
not be sent keeps its file, is logged as a failed delivery and reported, and records no level,
so the next run proposes it again. Cancelling stops between letters: what was produced is
recorded, the run stays proposed, and producing it again carries on with the letters not yet
produced.

The package, by concern (this module re-exports the public names, so `services.dunning.X`
works as it did when it was one module):
- templates: the placeholders a level's template may use, filling them, and their values.
- levels: listing, validating, saving and deleting levels.
- overdue: the SQL terms of "overdue" (which items, what of them, which level reached).
- items: the items a letter carries, as proposed and as they are now.
- recipients: who an e-mail letter goes to, for many customers at once.
- runs: looking up a run, its required state, cancelling it, the audit rows of letters.
- lease: who is producing a run right now (one pass at a time).
- proposal: proposing (and previewing) a run.
- review: a run's letters and items, leaving a letter out, discarding a proposal.
- production_reads, mailer, recording, production: producing a run.
"""

from o2c_desktop.services.dunning.items import LetterItemRow
from o2c_desktop.services.dunning.lease import LEASE, LeaseLost, RunBeingProduced
from o2c_desktop.services.dunning.levels import (
    MAX_NAME,
    MAX_TEMPLATE,
    NO_FEE_CURRENCY,
    LevelRow,
    delete_level,
    list_levels,
    save_level,
)
from o2c_desktop.services.dunning.mailer import MAIL_ATTEMPTS, MAIL_BACKOFF_SECONDS
from o2c_desktop.services.dunning.production import CHUNK, RunResult, produce_run
from o2c_desktop.services.dunning.proposal import (
    LetterProposal,
    RunProposal,
    preview_run,
    propose_run,
)
from o2c_desktop.services.dunning.recording import ACTIVITY_KIND
from o2c_desktop.services.dunning.review import (
    discard_run,
    letter_items,
    run_letters,
    set_included,
)
from o2c_desktop.services.dunning.templates import (
    NO_CONTACT_NAME,
    TEMPLATE_FIELDS,
    fill_template,
    placeholders,
    template_values,
    unknown_placeholders,
)

__all__ = [
    "ACTIVITY_KIND",
    "CHUNK",
    "LEASE",
    "MAIL_ATTEMPTS",
    "MAIL_BACKOFF_SECONDS",
    "MAX_NAME",
    "MAX_TEMPLATE",
    "NO_CONTACT_NAME",
    "NO_FEE_CURRENCY",
    "TEMPLATE_FIELDS",
    "LeaseLost",
    "LetterItemRow",
    "LetterProposal",
    "LevelRow",
    "RunBeingProduced",
    "RunProposal",
    "RunResult",
    "delete_level",
    "discard_run",
    "fill_template",
    "letter_items",
    "list_levels",
    "placeholders",
    "preview_run",
    "produce_run",
    "propose_run",
    "run_letters",
    "save_level",
    "set_included",
    "template_values",
    "unknown_placeholders",
]
