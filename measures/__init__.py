"""The measure engine: every examiner measure defined once, read by every consumer.

One module per measure holds its definition (the SQL that scores each exam or builds its
unit table), its statistical test, its words, its label and its chart kind, as a `Measure`
(measures.base). `measures.registry.MEASURES` lists them in display order; the flags
(measures.engine), the pages, the exports, the audit pack and `ime validate` all read it.
Adding a measure means one module and one line in the registry.
"""
