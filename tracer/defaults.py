"""Defaults shared by the command line and the models, in a module that
imports nothing (the command must start fast: a recording needs neither
the models nor the renderers, which are imported when drawing)."""

DEFAULT_MAX_MESSAGES = 400   # messages drawn in a sequence diagram before the rest are counted

# Names whose values are redacted by default (--no-default-redact turns the
# list off; --redact REGEX adds patterns): a dict key, a keyword field or an
# option of the program that contains one of these, in any case, has its
# value written as <redacted> (see tracer.redact).
REDACT_NAMES = ("password", "passwd", "passphrase", "secret", "token", "api_key", "apikey", "api-key",
                "access_key", "private_key", "credential", "authorization", "cookie", "session_key", "sessionid")
