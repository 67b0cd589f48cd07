"""Use cases: one public function per user action, each one unit of work.

Every function that changes business data checks the actor's permission, validates, writes the
audit rows and commits once. Results are plain dataclasses, never live ORM rows. No Qt here.
"""
