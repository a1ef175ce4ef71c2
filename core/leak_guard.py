"""The last check before a payload leaves the process: find what must never be sent, redact it.

Every conversion upstream has already reduced the declared fields; this guard looks at what is
left, every string value and every key of the finished payload, and replaces whatever looks
sensitive with :data:`REDACTED`. It is a pure function of its inputs and it fails closed: when
in doubt a value is redacted, which costs a dashboard one value, never a user their privacy.

**Flagged**, anywhere in a string (in a sentence, in parentheses or quotes, after ``key=``):

- ``PATH``: POSIX absolute paths (``/etc/x``), home paths (``~/x``, ``~user/x``), ``./x`` and
  ``../x``, Windows drive paths (``C:\\x``, ``c:/x``), UNC paths (``\\\\server\\share``),
  relative paths with two separators (``a/b/c``, ``a\\b\\c``) or with one separator and a file
  extension (``src/auth.py``).
- ``FILE_NAME``: a name with a source, script, config, data, database, notebook, document,
  spreadsheet, presentation, mail, project or solution (``Payments.csproj``, ``App.sln``),
  infrastructure state (``terraform.tfstate``), key, certificate or password-store
  (``id.asc``, ``vault.kdbx``, ``secrets.enc``), archive, disk image, packet capture, heap or
  crash dump, design, media or raw photo extension (``salaries_2026.xlsx``, ``Budget.numbers``,
  ``mail.pst``, ``disk.qcow2``, ``capture_2026.pcap``, ``login_session.har``,
  ``heap_dump.hprof``, ``prod.kubeconfig``, ``IMG_2041.dng``); well-known
  dotfiles (``.env``, ``.npmrc``, ``.netrc``, ``.pgpass``); and the SSH key and trust files,
  which have none (``id_rsa``, ``id_ed25519``, ``authorized_keys``, ``known_hosts``).
- ``HOST_NAME``: a dotted name whose last label is a common generic or country-code top-level
  domain or a private suffix (``example.com``, ``db-prod-01.internal.acme.com``,
  ``build-host-7.local``, ``api.corp``, ``ci.lan``, ``foo.home.arpa``, ``vault.acme.systems``),
  case-insensitively; under ``.int``, an attribute name too (``uuid.int``), only with two labels
  or more before it (``dc01.acme.int``).
- ``URL``: anything with a ``scheme://`` (``file:///x`` too).
- ``EMAIL``: ``local@domain.tld``.
- ``IP_ADDRESS``: four dot-separated groups of 1-3 digits, port or not (octets are not
  range-checked), and IPv6 addresses with ``::`` or eight groups (``::1``, ``fe80::1%eth0``,
  ``2001:db8::1``, ``[::1]:8080``).
- ``MAC_ADDRESS``: six hex pairs joined by ``:`` or ``-`` (``00:1a:2b:3c:4d:5e``), or three
  hex quads joined by ``.`` (``001a.2b3c.4d5e``).
- ``CREDENTIAL``: PEM private-key blocks; AWS access key ids; GitHub, GitLab, Slack,
  OpenAI/Anthropic (``sk-``, ``sk-proj-``, ``sk-ant-``), Stripe, PostHog, Hugging Face
  (``hf_``, letters only too), Google (``AIza``), npm (``npm_``) and PyPI (``pypi-Ag``) keys;
  Azure client secrets (``abc8Q~...``, and 34 to 40 random characters with a ``~``); JWTs;
  and runs of 20 or more ``[A-Za-z0-9+/_-]`` characters that read as noise rather than words:
  random hex, base64, UUIDs, and random letters without any digit (see :func:`_looks_random`).
  Azure storage account keys and SAS tokens are base64 with ``/``, ``+`` and ``=``, which the
  wire grammar's labels cannot hold; their runs are random anyway.
- ``SENSITIVE_LITERAL``: one of the policy's literals (user, host, directory, repository and
  remote names), case-insensitively, as a whole token. A literal of letters only is a word, and
  ``_`` joins it to others: ``alice`` flags ``Alice`` and ``alice's`` but not ``malice`` or
  ``alice_b``, and a folder named ``search`` leaves ``search_count`` alone. Any other literal
  (with a ``-``, ``_``, ``.``, digit or other character) is a name no word is spelled like, so
  its ``-``, ``_`` and ``.`` are interchangeable and any character but a letter or digit ends
  it: ``payments-internal`` flags ``payments_internal``, ``Payments_Internal`` and
  ``payments-internal_prod``, ``acme-corp`` flags ``acme-corp_ci``, ``alice2`` flags
  ``alice2_test``; not ``acme-corps`` nor ``alice23``.

**Left alone**: enum names (``UNDERSTAND``, ``Mode.LOCAL``), language names (``python``,
``c++``, ``C#``), versions (``0.5.0``, ``1.2.3-rc.1``, ``v2.0.0b1``, ``1.0.dev``), ISO dates,
times and timestamps (``01:04:35``, ``2026-12-01T08:37:52.123456+00:00``), numbers, short
identifiers (``find_code``, ``$process_person_profile``), PostHog flag names with one slash
(``$feature/new_reranker``), short slashed words (``n/a``, ``text/plain``, ``req/s``, ``I/O``),
MIME types, model names (``BAAI/bge-small-en-v1.5``, ``bge-small-en-v1.5``,
``claude-3-5-sonnet-20241022``, ``gpt-4o-mini``), bare extensions (``.py``), extension-less
file names (``Makefile``), long identifiers made of words with or without digits
(``codeweaver_session_v2``, ``SearchStrategyHybridRerank``, ``sentence_transformers``),
sentences; and the words ``credentials``, ``shadow`` and ``passwd``: they name sensitive files
only inside a path (``~/.aws/credentials``, ``/etc/shadow``, ``etc/passwd``), which is flagged,
and which no label can hold; alone they are ordinary words (``missing_credentials``).

**Accepted false positives**, the price of failing closed:

- four-part dotted numbers (``1.2.3.4``) and four-part dashed ones (``ip-10-0-1-23``, as
  cloud host names spell addresses; ``1-2-3-4`` too) read as IPv4 addresses, six two-digit
  groups joined by ``-`` or ``:`` (``26-11-28-01-04-35``) as a MAC address, and so is a word of
  exactly 12 hex characters mixing letters and digits (``001A2B3C4D5E``; a short commit hash or
  container id too);
- slash-separated dates (``11/28/2026``) and three slashed words (``read/write/exec``) read as
  relative paths, and a slash command at the start of a token (``/help``) as an absolute one;
- names whose last dotted part is an extension: ``Node.js``, ``console.log``, ``process.env``,
  ``json.dump``, ``error.msg``, and domains whose top-level domain is one (``docs.rs``,
  ``bun.sh``, ``mistral.ai``: flagged as file names, not host names);
- dotted attribute names whose last part is a top-level domain: ``logging.info``,
  ``threading.local``, ``settings.dev``, ``flask.app`` read as host names;
- hex-letter words joined by ``::`` (``cafe::bad``), which are valid IPv6 addresses;
- identifiers that spell a compound literal made of common words: a folder named
  ``test_data`` flags ``TEST_DATA_DIR``, one named ``python3`` flags
  ``PYTHON3_OSERROR_EXCEPTIONS`` (1 and 2 of the 29,010 names in the standard library's
  source; none for ``payments-internal``, ``acme-corp``, ``build-host-7`` or ``alice2``);
- about 0.4% of long identifiers with digits, those made of acronyms (one that says a part
  twice, ``test_rfc2047_rfc2047_1``, is a name), and 0.002% of those without (1 of 66,612:
  ``AsyncAWSXRayRecorder``).

**Accepted false negatives**: random tokens shorter than 20 characters; random letters without
a digit in a run of 20 or more, when they read as words: 1.1% of 20-character mixed-case runs,
0.09% at 32, none in 20,000 at 64 (lower case alone: 2.9%, 0.8%, 0.06%); runs without a digit
whose letters come in stretches shorter than 16 between separators (``QhVbXkTzRm_WcJpLsNdF``);
random tokens whose only letter is one ``e``, as in a float's exponent (0.02% of 20-character
hex tokens); the random token with digits that reads as words (0.45% of 20-character base64
tokens, 0.03% at 32, none in 300,000 at 56); a key file's name joined to other words in a plain
word shorter than 20 characters (``backup_id_rsa``; ``id_rsa-cert`` and longer ones are
found); a host name written like an enum member, a class name and an upper-case suffix
(``Example.COM``); host names under the suffixes that are common attribute names, ``.id``
(``jira.acme.id``: 73 of OpenTelemetry's 1,543 attribute names end in ``.id``, 62 of them after
two labels or more, ``service.instance.id``), ``.int`` after one label (``acme.int``), and
others left out of the list (``.group``, ``.network``, ``.zone``); a bare name under a private
suffix of one's own, as Kubernetes service names are (``db01.prod``,
``redis-master.payments``), which reads like ``settings.prod`` or ``module.function``; files
whose extension is an ordinary word or attribute name: ``backup.age`` (age encryption, like
``cache.age``), ``capture.cap`` (like ``budget.cap``), ``dump.raw``, ``run.trace``, ``core.1234``;
a compound literal spelled without its separators or in camel case (``paymentsinternal``,
``PaymentsInternal``), or joined to a letter or digit (``alice23``); ``user@localhost``; the
unspecified IPv6 address ``::``.

Cost: a string of ASCII letters, digits and underscores shorter than 20 characters, the bulk of
any payload, is settled by two C-level character tests and, with a ``_`` or literals, one
lookup each (with both, a substring test per literal that holds more than letters). Any other
string is split on white space; a word that is such a plain word once quotes, brackets and end
punctuation are stripped is skipped, and any other runs only the rules whose trigger (``/``,
``@``, ``://``, ``.``, ``~``, five ``:``, ...) it contains; a host name needs a dot and a known
suffix after it before its labels are read, and a run without digits is weighed only if it holds
16 letters in a row. Every pattern repeats either a bounded number of times or a class that
excludes what must follow it, so no stretch of text is read from many starting points, and each
literal is looked for once, skipping from word to word: the cost is linear in the length of the
string, whatever its shape.

>>> find_leak("saved to /home/alice/notes.md")
<LeakKind.PATH: 'path'>
>>> find_leak("UNDERSTAND") is None
True
"""

from __future__ import annotations

import enum
import math
import re
from collections import Counter
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from operator import add
from typing import Final

from .vocabulary import JSONValue

__all__ = ["REDACTED", "LeakKind", "find_leak", "guard_payload"]

REDACTED: Final = "[REDACTED]"
"""What replaces a flagged string or key. The guard itself never flags it."""


class LeakKind(enum.Enum):
    """The kind of sensitive content :func:`find_leak` found.

    >>> LeakKind.PATH.value
    'path'
    """

    PATH = "path"
    FILE_NAME = "file_name"
    URL = "url"
    EMAIL = "email"
    IP_ADDRESS = "ip_address"
    MAC_ADDRESS = "mac_address"
    HOST_NAME = "host_name"
    CREDENTIAL = "credential"
    SENSITIVE_LITERAL = "sensitive_literal"


# --- Vocabularies -----------------------------------------------------------------------------


def _word_set(words: str) -> frozenset[str]:
    """The white-space separated words of ``words``: long vocabularies stay readable."""
    return frozenset(words.split())


_EXTENSIONS: Final = _word_set(
    """
    py pyi pyx pxd pyw ipynb js mjs cjs jsx ts tsx mts cts vue svelte astro rs go java kt kts
    scala groovy gradle rb erb rake php pl lua swift cc cpp cxx hpp hh hxx ino cs csx fs fsi fsx
    vb dart ex exs erl hrl clj cljs cljc edn elm hs lhs ml mli jl nim zig sol sql psql graphql
    gql proto thrift wasm wat sh bash zsh fish ksh csh ps1 psm1 psd1 bat cmd awk vim el lisp scm
    rkt tcl asm vhd vhdl f90 f95 cob cbl nix dhall tf tfvars hcl rego bicep mk cmake bazel bzl
    md mdx markdown rst txt adoc asciidoc tex bib rmd qmd html htm xhtml css scss sass less styl
    pug hbs mustache jinja jinja2 j2 njk twig liquid ejs
    json jsonc json5 jsonl ndjson yaml yml toml ini cfg conf config cnf env properties plist xml
    xsd xsl lock dockerfile csv tsv parquet avro feather arrow orc db sqlite sqlite3 duckdb mdb
    accdb dbf fdb mdf ldf ibd frm myd rdb aof pkl pickle joblib npy npz h5 hdf5 mat sav dta pt
    pth ckpt safetensors onnx gguf log dat dump dmp mdmp hprof heapsnapshot bak backup
    pcap pcapng har evtx
    pdf doc docx docm dotx odt ott rtf xls xlsx xlsm xlsb xlt xltx ods ots ppt pptx pptm pot
    potx pps ppsx odp odg numbers pages key epub mobi azw azw3 djvu xps vsd vsdx mpp
    msg eml emlx pst ost mbox vcf vcard ics
    csproj vbproj fsproj vcxproj sln xcodeproj pbxproj xcworkspace nuspec nupkg gemspec podspec
    tfstate tfplan kubeconfig
    pem key crt cer csr der p7b p7c p8 p12 pfx jks jceks bks keystore keychain kdb kdbx psafe3
    agilekeychain opvault gpg pgp asc sig kbx enc ovpn mobileconfig pub ppk keytab rdp
    zip tar gz tgz bz2 xz zst lz4 lzma 7z rar cab whl egg jar war ear deb rpm apk aab ipa msi exe
    dll so dylib iso img dmg vmdk vdi vhdx qcow2 ova ovf swp tmp orig patch diff
    png jpg jpeg gif svg webp ico bmp tif tiff heic heif avif jxl psd xcf ai eps sketch fig dwg
    dxf dng cr2 cr3 nef nrw arw raf orf rw2
    mp3 mp4 m4a aac flac ogg wav mov mkv avi webm kml kmz gpx geojson shp
    """
)
"""Extensions of two or more characters that make a word a file name (lower case)."""

_SHORT_EXTENSIONS: Final = frozenset("chmr")
"""One-letter extensions (C, headers, Objective-C, R), taken only after two name characters:
``D.C.`` and ``a.m.`` are abbreviations, ``io.c`` is a file."""

_DOTFILES: Final = _word_set(
    """
    env envrc bashrc bash_profile bash_history bash_logout zshrc zshenv zprofile zsh_history
    profile netrc npmrc yarnrc pypirc pgpass gitconfig git-credentials gitignore gitmodules
    dockerignore editorconfig ssh aws kube gnupg docker git venv config htpasswd htaccess vimrc
    viminfo python_history node_repl_history psqlrc mysql_history boto s3cfg terraformrc
    dockercfg condarc vault-token azure gcloud terraform ds_store lesshst sqlite_history
    """
)
"""Names that are a file or a directory when written with a leading dot (``.env``)."""

_KEY_FILE_NAMES: Final = _word_set(
    """
    id_rsa id_dsa id_ecdsa id_ed25519 id_xmss id_ecdsa_sk id_ed25519_sk authorized_keys
    authorized_keys2 known_hosts _netrc
    """
)
"""SSH key and trust files, which have no extension. A short plain word is flagged only when it
is one of them (``id_rsa``, ``ID_RSA``): one lookup, paid only by words with a ``_``."""

_KEY_FILES: Final = re.compile(
    r"(?<![a-z0-9])(?:id_(?:rsa|dsa|ecdsa|ed25519|xmss)(?:_sk)?|authorized_keys2?|known_hosts"
    r"|_netrc)(?![a-z0-9])"
)
"""The same names inside longer text, on lower-cased text; ``_`` may join them to other words
(``backup_id_rsa_2026``, ``id_rsa-cert``, ``known_hosts.old``)."""

_TOP_LEVEL_DOMAINS: Final = _word_set(
    """
    com net org io dev app ai co cloud edu gov mil info biz me us uk de fr jp cn ru in br au ca
    nl eu ch se no es it pl at be dk fi ie il kr mx nz pt tw za sg hk ar cz gr hu ro tr ua vn my
    ph th cl pe sk si lt lv ee is lu bg hr rs by kz ir pk bd ng ke eg sa ae qa tv fm ly gg sh
    so to ws cc xyz tech site online store shop blog systems services solutions
    internal local localdomain lan home intranet intra corp private priv arpa test example
    invalid localhost consul lab svc cluster
    """
)
"""The last labels that make a dotted name a host name: the common generic and country-code
top-level domains, and the suffixes of private networks (RFC 6761, RFC 6762, RFC 8375, and
the habits of intranets: ``.internal``, ``.corp``, ``.lan``)."""

_DEEP_TOP_LEVEL_DOMAINS: Final = _word_set("int")
"""Top-level domains that are also attribute names (``uuid.int``, ``value.int``): they make a
dotted name a host name only under two labels or more (``dc01.acme.int``)."""

_HOST_SUFFIXES: Final = _TOP_LEVEL_DOMAINS | _DEEP_TOP_LEVEL_DOMAINS

_COMMON_PAIRS: Final = _word_set(
    """
    ab ac ad ag ai al am an ap ar as at ba be bj bl bo bu by ca ce ch ci ck cl co cr ct cu da de
    di do du ea ec ed ee ef el em en ep er es et ev ex ey fa ff fi fo fr fu ge gi gs ha he hi ho
    ia ib ic id ie if ig il im in io ip ir is it ke la ld le lf li ll lo ls lt lu ly ma me mi mo
    mp na nc nd ne nf ng ni no ns nt nu ob oc od of ol om on oo op or os ot ou ow pa pe pi pl po
    pp pr pt qu ra rc re rg ri rm rn ro rr rs rt ru ry sa sc se sh si sm so sp ss st su ta te th
    ti to tr ts tt tu ty ue ul um un up ur us ut va ve wa wh wi xc xt yp
    """
)
"""The letter pairs that make up 90% of the pairs in the words of Python's standard library.

Words are made of these; random letters hit them about one time in four."""

# --- Patterns ---------------------------------------------------------------------------------
# Every pattern repeats either a bounded number of times or a class that excludes what must
# follow it, so a failed attempt gives up after a few steps and the search stays linear. A
# pattern that can start with a literal does, and puts its boundary test just after that
# literal, so the engine skips ahead to the literal instead of trying every position.

_BREAK: Final = r"\s\"'`()\[\]{}<>,;|="
"""Characters that end a token: white space, quotes, brackets and list punctuation."""

_OPENERS: Final = "([{<\"'`"
_CLOSERS: Final = ".,;!?)]}>\"'`"
"""Punctuation around a word that cannot turn a plain word into a path, address or key."""

_PEM: Final = re.compile(r"-----BEGIN [A-Z0-9 ]{0,64}PRIVATE KEY(?: BLOCK)?-----")

_KEY: Final = re.compile(
    # (?<![A-Za-z0-9].) after a key's first letter: no letter or digit before that letter.
    r"A(?<![A-Za-z0-9].)(?:(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16}|Iza[\w-]{35})"  # AWS, Google
    r"|g(?<![A-Za-z0-9].)(?:h[pousr]_[A-Za-z0-9]{20}|ithub_pat_\w{20}|lpat-[\w-]{20})"
    r"|h(?<![A-Za-z0-9].)f_[A-Za-z0-9]{30}"  # Hugging Face, letters only too
    r"|n(?<![A-Za-z0-9].)pm_[A-Za-z0-9]{36}"
    r"|x(?<![A-Za-z0-9].)(?:ox[abprs]|app)-[A-Za-z0-9-]{10}"
    r"|s(?<![A-Za-z0-9].)k(?:-[\w-]{20}|_(?:live|test)_[A-Za-z0-9]{16})"  # sk-proj-, sk-ant-
    r"|r(?<![A-Za-z0-9].)k_(?:live|test)_[A-Za-z0-9]{16}"
    r"|p(?<![A-Za-z0-9].)(?:h[cx]_[A-Za-z0-9]{20}|ypi-Ag[\w-]{40})"  # PostHog, PyPI macaroons
    # A JWT starts where a base64url run starts, so each run is read from one place only.
    r"|e(?<![\w-].)yJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*",
    re.ASCII,
)
_MIN_KEY_LENGTH: Final = 15
"""The shortest text :data:`_KEY` can match (a Slack token)."""

_URL: Final = re.compile(r"[A-Za-z0-9+.-]://")

_EMAIL: Final = re.compile(r"[A-Za-z0-9._%+-]@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+){0,8}\.[A-Za-z]{2}")

_IPV4: Final = re.compile(r"(?<![0-9])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![0-9])")

# Each repeated group starts with a colon, which the hex class excludes: a string splits into
# groups one way only, and there are at most eight to try.
_HEX_GROUP: Final = "[0-9A-Fa-f]{1,4}"
_IPV6: Final = re.compile(
    r"(?<![A-Za-z0-9_:])(?:"
    rf"(?:{_HEX_GROUP}:){{1,7}}:(?:{_HEX_GROUP}(?::{_HEX_GROUP}){{0,6}})?"  # fe80::1, 1::
    rf"|::{_HEX_GROUP}(?::{_HEX_GROUP}){{0,6}}"  # ::1
    rf"|{_HEX_GROUP}(?::{_HEX_GROUP}){{7}}"  # eight groups
    r")(?![A-Za-z0-9_:])"
)

_PATH: Final = re.compile(
    # (?<![^...]X) after a first character X: X starts the token or follows a break or a colon.
    rf"/(?<![^{_BREAK}:]/)(?:[^\W\d]|[.~$])"  # /etc, /.ssh, path:/etc
    rf"|~(?<![^{_BREAK}:]~)(?:[A-Za-z_][\w.-]{{0,63}})?[/\\]"  # ~/x, ~user/x
    rf"|\.(?<![^{_BREAK}:]\.)\.?[/\\]"  # ./x, ../x
    rf"|\\(?<![^{_BREAK}:]\\)\\[\w.$-]"  # \\server
    r"|:(?<=(?<![A-Za-z0-9])[A-Za-z]:)[/\\]"  # C:\x, c:/x
    rf"|[/\\][^/\\{_BREAK}]+[/\\]"  # a/b/c: two separators around a segment
    rf"|[/\\][^/\\.{_BREAK}]*\.[A-Za-z][A-Za-z0-9]{{0,9}}(?![^.,:;!?{_BREAK}])"  # src/auth.py
)

_DOTTED_NAME: Final = re.compile(  # on lower-cased text; the candidate is looked up in a set
    r"\.(?:(?<=[\w-]\.)([a-z0-9][a-z0-9]{0,15})(?![a-z0-9])"  # an extension after a name: x.py
    r"|(?<![\w.-]\.)([a-z][\w-]{0,19})(?![\w-]))"  # a dotfile name: .env
)

_MAC: Final = re.compile(
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"  # 00:1a:..
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![0-9A-Fa-f])"  # 001a.2b3c.4d5e
)

_MAC_LENGTH: Final = 14
"""The shortest MAC address with separators, ``001a.2b3c.4d5e``."""

_BARE_MAC_LENGTH: Final = 12
_BARE_MAC: Final = re.compile(r"(?=[0-9A-Fa-f]*[A-Fa-f])(?=[0-9A-Fa-f]*[0-9])[0-9A-Fa-f]{12}")
"""A MAC address without separators (``001A2B3C4D5E``), a word of its own that mixes hex letters
and digits (a short container id or commit hash looks the same: flagged too, failing closed)."""

_DASHED_IPV4: Final = re.compile(r"(?<![0-9])[0-9]{1,3}(?:-[0-9]{1,3}){3}(?![0-9])")
"""An IPv4 address written with dashes, as cloud host names have it: ``ip-10-0-1-23``."""

_HOST_SUFFIX: Final = re.compile(r"\.([A-Za-z]{2,24})(?![A-Za-z0-9-])")
"""A dot and the letters of a candidate top-level domain, looked up in a set: the gate."""
_HOST_CHUNK: Final = re.compile(r"[A-Za-z0-9.-]+")
"""The characters of a host name; a chunk is then split in Python, once."""
_MAX_LABEL_LENGTH: Final = 63

_TILDE_RUN: Final = re.compile(r"[\w.~-]{32,}")
_AZURE_SECRET: Final = re.compile(r"[\w.-]{3}[0-9]Q~[\w.~-]{31}")
"""An Azure client secret: three characters, a digit, ``Q~`` and 31 or more."""
_MAX_AZURE_LENGTH: Final = 40

_RUN: Final = re.compile(r"[A-Za-z0-9+/_-]{20,}")
_EXPONENT: Final = re.compile(r"[0-9]*[eE][-+]?[0-9]+")

_NON_WORD: Final = re.compile(r"\W")
_NON_ALNUM: Final = re.compile(r"[\W_]")

# --- High-entropy tokens ----------------------------------------------------------------------

_MIN_SECRET_LENGTH: Final = 20
_MIN_ENTROPY: Final = 3.0
"""Bits per character below which a run is too repetitive to be a secret."""
_MIN_LETTERS: Final = 16
"""Without a digit, a run is weighed only if it has this many letters in a row."""
_MIN_HEX_ENTROPY: Final = 2.5
"""The same for hex, whose 16 symbols leave a random 20-character string near 3.4 bits."""

_DIGITS: Final = frozenset("0123456789")
_NUMERIC: Final = frozenset("0123456789.:+-")
_HEX_OR_DASH: Final = frozenset("0123456789abcdefABCDEF-")
_SHAPES: Final = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/",
    "a" * 26 + "A" * 26 + "0" * 10 + "__++",
)
"""A run's shape: ``a`` lower case, ``A`` upper case, ``0`` digit, ``_`` for ``_ -``, ``+ /``."""
_LETTERS_ONLY: Final = str.maketrans("0123456789_-+/", " " * 14)
_SEPARATORS_ONLY: Final = str.maketrans("_-+/", "    ")
"""A run's parts, between its separators."""

# Evidence that a run is made of words (positive) or of noise (negative). Calibrated on 90
# model, platform and identifier names and on the 4,889 identifiers with digits and 20+
# characters in the standard library and a dozen packages, against random base64, alphanumeric
# and hex strings: these weights miss 0.45% of random 20-character base64 tokens, 0.03% at 32
# and none in 300,000 at 56, and flag 19 of the 4,889 identifiers (0.4%). For runs without a
# digit (:func:`_letter_score`), measured on the 66,612 Python identifiers of 20+ characters
# without a digit in the standard library and the installed packages (``tokenize`` NAME tokens)
# against 20,000 random letter strings per length: 1 identifier flagged (0.002%); missed: 1.11%
# of mixed-case runs of 20, 0.43% of 24, 0.09% of 32, 0.02% of 43, none at 64; of lower-case
# runs 2.9%, 1.6%, 0.8%, 0.43%, 0.06%; upper case about the same.
_COMMON_PAIR_WEIGHT: Final = 3
_RARE_PAIR_WEIGHT: Final = -3
_LETTER_DIGIT_WEIGHT: Final = -3
_HUMP_WEIGHT: Final = -2
_SEPARATOR_WEIGHT: Final = 2
_NOISE_THRESHOLD: Final = -2
_WORD_WEIGHT: Final = -2
_HUMP: Final = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _entropy(counts: Counter[str], length: int) -> float:
    """Shannon entropy in bits per character.

    >>> _entropy(Counter("abab"), 4)
    1.0
    """
    return math.log2(length) - sum(n * math.log2(n) for n in counts.values()) / length


def _word_score(run: str, shape: str) -> int:
    """How much ``run`` reads as words (positive) rather than noise (negative).

    Each pair of adjacent letters scores whether words often contain it; a letter next to a
    digit, and a lower-case letter before an upper-case one, count for noise; a separator
    (``_`` or ``-``) counts for words.

    >>> _word_score("codeweaver_session_v2", "codeweaver_session_v2".translate(_SHAPES))
    28
    >>> _word_score("k3J9dXq0Zm2pT7wL4nS8", "k3J9dXq0Zm2pT7wL4nS8".translate(_SHAPES))
    -53
    """
    lowered = run.lower()
    common = sum(map(_COMMON_PAIRS.__contains__, map(add, lowered, lowered[1:])))
    words = run.translate(_LETTERS_ONLY).split()
    letter_pairs = sum(map(len, words)) - len(words)
    letter_digit = sum(map(shape.count, ("a0", "0a", "A0", "0A")))
    return (
        _COMMON_PAIR_WEIGHT * common
        + _RARE_PAIR_WEIGHT * (letter_pairs - common)
        + _LETTER_DIGIT_WEIGHT * letter_digit
        + _HUMP_WEIGHT * shape.count("aA")
        + _SEPARATOR_WEIGHT * shape.count("_")
    )


def _letter_score(run: str) -> int:
    """:func:`_word_score` for a run without digits, which splits words at humps too.

    A hump (``dH`` in ``SearchHybrid``) starts a word instead of counting for noise, and each
    word costs a little instead: random mixed case is all short words, a name a few long ones.

    >>> _letter_score("SearchHybridHybridHybrid"), _letter_score("QhVbXkTzRmWcJpLsNdFgYtKe")
    (-2, -36)
    """
    spaced = _HUMP.sub(" ", run)
    lowered = spaced.lower()
    common = sum(map(_COMMON_PAIRS.__contains__, map(add, lowered, lowered[1:])))
    words = spaced.translate(_LETTERS_ONLY).split()
    letter_pairs = sum(map(len, words)) - len(words)
    return (
        _COMMON_PAIR_WEIGHT * common
        + _RARE_PAIR_WEIGHT * (letter_pairs - common)
        + _SEPARATOR_WEIGHT * (spaced.count("_") + spaced.count("-"))
        + _WORD_WEIGHT * len(words)
    )


def _looks_random(run: str) -> bool:
    """Whether a run of 20+ token characters is a random secret rather than a name.

    It must have letters and high entropy. Hex with a digit (UUIDs too) needs no more, since no
    name is spelled in ``0-9a-f`` alone; anything else, with digits or without, must also read
    as noise: letter pairs that words rarely hold, humps, letters next to digits.

    >>> _looks_random("9f86d081884c7d659a2feaa0c55ad015")
    True
    >>> _looks_random("claude-3-5-sonnet-20241022")
    False
    >>> _looks_random("QhVbXkTzRmWcJpLsNdFgYtKe"), _looks_random("SearchStrategyHybridRerank")
    (True, False)
    """
    shape = run.translate(_SHAPES)
    if "a" not in shape and "A" not in shape:
        return False
    has_digit = "0" in shape
    # The digits of a float after its point (1.2851153594391869e-188) mix them too.
    if has_digit and _EXPONENT.fullmatch(run):
        return False
    if has_digit and _HEX_OR_DASH.issuperset(run):
        if len(run) - run.count("-") >= _MIN_SECRET_LENGTH:
            return _entropy(Counter(run), len(run)) >= _MIN_HEX_ENTROPY
    elif not has_digit and max(map(len, run.translate(_LETTERS_ONLY).split())) < _MIN_LETTERS:
        return False  # words joined by separators: snake_case, kebab-case
    parts = run.translate(_SEPARATORS_ONLY).split()
    if len(set(parts)) < len(parts):
        return False  # a part said twice (hybrid-hybrid-v1): a name, not noise
    # The word score settles most names, so the entropy is counted only for what reads as noise.
    score = _word_score(run, shape) if has_digit else _letter_score(run)
    return score < _NOISE_THRESHOLD and _entropy(Counter(run), len(run)) >= _MIN_ENTROPY


# --- Literals ---------------------------------------------------------------------------------


def _is_word_char(text: str, index: int) -> bool:
    return 0 <= index < len(text) and (text[index].isalnum() or text[index] == "_")


def _is_alnum(text: str, index: int) -> bool:
    return 0 <= index < len(text) and text[index].isalnum()


def _has_token(
    text: str, literal: str, is_joined: Callable[[str, int], bool], separator: re.Pattern[str]
) -> bool:
    """Whether ``literal`` occurs in ``text`` with no character on either side that ``is_joined``
    takes for part of a word; ``separator`` matches exactly the characters it does not.

    >>> _has_token("user alice's", "alice", _is_word_char, _NON_WORD)
    True
    >>> _has_token("malice", "alice", _is_word_char, _NON_WORD)
    False
    """
    start = text.find(literal)
    while start >= 0:
        end = start + len(literal)
        if not is_joined(text, start - 1) and not is_joined(text, end):
            return True
        if is_joined(literal, 0):
            # A match must follow a separator, so skip the rest of this word: each character is
            # then read once per literal, whatever the text.
            after = separator.search(text, start + 1)
            start = text.find(literal, after.end()) if after else -1
        else:
            start = text.find(literal, start + 1)
    return False


def _dashed(text: str) -> str:
    """``text`` with ``_`` and ``.`` spelled ``-``, so a compound literal matches in any of the
    three spellings: ``payments_internal`` is ``payments-internal``."""
    return text.replace("_", "-").replace(".", "-")


def _has_word_literal(lowered: str, literal_tokens: tuple[str, ...]) -> bool:
    """Whether a literal of letters only (``search``) is a whole token: ``_`` joins it to a word
    (``search_count`` is an ordinary key, whoever has a folder named ``search``)."""
    return any(
        literal.isalpha()
        and literal in lowered
        and _has_token(lowered, literal, _is_word_char, _NON_WORD)
        for literal in literal_tokens
    )


_COMPOUNDS_BY_LITERALS: Final[dict[tuple[str, ...], tuple[str, ...]]] = {}
_LITERAL_SETS_KEPT: Final = 16


def _compound_literals(literal_tokens: tuple[str, ...]) -> tuple[str, ...]:
    """The literals that hold more than letters, dashed: worked out once per set of literals
    (a machine has one; at most ``_LITERAL_SETS_KEPT`` are kept, for tests that make many),
    not once per string. A plain dict: ``functools.lru_cache`` costs twice the lookup."""
    compounds = _COMPOUNDS_BY_LITERALS.get(literal_tokens)
    if compounds is None:
        if len(_COMPOUNDS_BY_LITERALS) >= _LITERAL_SETS_KEPT:
            _COMPOUNDS_BY_LITERALS.clear()
        compounds = tuple(_dashed(literal) for literal in literal_tokens if not literal.isalpha())
        _COMPOUNDS_BY_LITERALS[literal_tokens] = compounds
    return compounds


def _has_compound_literal(lowered: str, literal_tokens: tuple[str, ...]) -> bool:
    """Whether a literal with anything but letters in it (``acme-corp``, ``alice2``) is there in
    any spelling of its ``-``, ``_`` and ``.``, with ``_`` ending it like any other non-letter or
    digit: ``acme-corp_ci``, ``payments_internal_prod``. No word is spelled so."""
    compounds = _compound_literals(literal_tokens)
    if not compounds:
        return False
    dashed = _dashed(lowered)
    for literal in compounds:
        if literal in dashed and _has_token(dashed, literal, _is_alnum, _NON_ALNUM):
            return True
    return False


def _has_literal(lowered: str, literal_tokens: tuple[str, ...]) -> bool:
    return _has_word_literal(lowered, literal_tokens) or _has_compound_literal(
        lowered, literal_tokens
    )


# --- Classification ---------------------------------------------------------------------------


def _is_plain_word(text: str) -> bool:
    """ASCII letters, digits and underscores: no path, address or file name fits in one."""
    return text.isascii() and (text.isalnum() or text.isidentifier())


def _is_inert(word: str) -> bool:
    """A short plain word, once quotes, brackets and end punctuation are stripped."""
    core = word.lstrip(_OPENERS).rstrip(_CLOSERS)
    return len(core) < _MIN_SECRET_LENGTH and _is_plain_word(core)


def _has_file_name(lowered: str) -> bool:
    for match in _DOTTED_NAME.finditer(lowered):
        extension, dotfile = match.groups()
        if dotfile in _DOTFILES or extension in _EXTENSIONS:
            return True
        if extension in _SHORT_EXTENSIONS and _is_word_char(lowered, match.start() - 2):
            return True
    return False


def _has_random_run(word: str) -> bool:
    return any(_looks_random(run.group()) for run in _RUN.finditer(word))


def _has_host_name(word: str) -> bool:
    """Whether ``word`` holds a dotted name under a known top-level or private suffix.

    ``db-prod-01.internal.acme.com``, ``example.com.``, ``build-host-7.local``; not ``0.5.0``,
    ``bge-small-en-v1.5`` nor ``1.0.dev`` (a number before the suffix), nor ``Mode.LOCAL`` (a
    class name and an upper-case member: an enum).

    >>> _has_host_name("db-prod-01.internal.acme.com"), _has_host_name("bge-small-en-v1.5")
    (True, False)
    """
    for suffix in _HOST_SUFFIX.finditer(word):
        if suffix.group(1).lower() in _HOST_SUFFIXES:
            break
    else:
        return False
    for match in _HOST_CHUNK.finditer(word):
        head, _, suffix_label = match.group().strip(".").rpartition(".")
        if not head or suffix_label.lower() not in _HOST_SUFFIXES:
            continue
        labels = head.split(".")
        if suffix_label.isupper() and not head.isupper():  # Class.MEMBER
            continue
        if len(labels) == 1 and suffix_label.lower() in _DEEP_TOP_LEVEL_DOMAINS:
            continue
        if labels[-1].isdigit():
            continue
        if all(
            label and len(label) <= _MAX_LABEL_LENGTH and label[0] != "-" and label[-1] != "-"
            for label in labels
        ):
            return True
    return False


def _has_tilde_secret(word: str) -> bool:
    """Whether ``word`` holds an Azure client secret: ``abc8Q~`` and 34 more, or 34 to 40
    random characters with a ``~`` (the older form)."""
    for match in _TILDE_RUN.finditer(word):
        run = match.group()
        if "~" not in run:
            continue
        if "Q~" in run and _AZURE_SECRET.search(run):
            return True
        if len(run) <= _MAX_AZURE_LENGTH and _looks_random(run.replace("~", "-").replace(".", "-")):
            return True
    return False


def _has_key_file(text: str) -> bool:
    """Whether ``text`` names an SSH key or trust file: ``id_rsa``, ``known_hosts``."""
    return "_" in text and _KEY_FILES.search(text.lower()) is not None


def _has_mac_address(word: str) -> bool:
    """Six hex pairs joined by ``:`` or ``-``, or three hex quads by ``.``: counted first, so
    times (``01:04:35``), dates and versions never reach the pattern."""
    return (
        len(word) >= _MAC_LENGTH
        and (
            (":" in word and word.count(":") >= 5)
            or ("-" in word and word.count("-") >= 5)
            or ("." in word and word.count(".") >= 2)
        )
        and _MAC.search(word) is not None
    )


def _has_dashed_ipv4(word: str) -> bool:
    return "-" in word and word.count("-") >= 3 and _DASHED_IPV4.search(word) is not None


def _word_leak(word: str) -> LeakKind | None:
    """The kind of leak in a string without white space.

    Each rule is gated by a substring its pattern cannot match without: one C-level test that
    ordinary words fail, so most never reach a regex.
    """
    if _NUMERIC.issuperset(word):  # a number, version, date or time; or an IP or MAC address
        if _IPV4.search(word) or _IPV6.search(word):
            return LeakKind.IP_ADDRESS
        if _has_mac_address(word):
            return LeakKind.MAC_ADDRESS
        return LeakKind.IP_ADDRESS if _has_dashed_ipv4(word) else None
    if len(word) >= _MIN_KEY_LENGTH and _KEY.search(word):
        return LeakKind.CREDENTIAL
    if "://" in word and _URL.search(word):
        return LeakKind.URL
    if "@" in word and _EMAIL.search(word):
        return LeakKind.EMAIL
    if ("." in word and _IPV4.search(word)) or (
        ("::" in word or word.count(":") >= 7) and _IPV6.search(word)  # :: or eight groups
    ):
        return LeakKind.IP_ADDRESS
    if _has_mac_address(word):
        return LeakKind.MAC_ADDRESS
    if _has_dashed_ipv4(word):
        return LeakKind.IP_ADDRESS
    if ("/" in word or "\\" in word) and _PATH.search(word):
        return LeakKind.PATH
    if "~" in word and _has_tilde_secret(word):
        return LeakKind.CREDENTIAL
    if "." in word:
        if _has_file_name(word.lower()):
            return LeakKind.FILE_NAME
        if _has_host_name(word):
            return LeakKind.HOST_NAME
    if len(word) >= _MIN_SECRET_LENGTH and _has_random_run(word):
        return LeakKind.CREDENTIAL
    return None


def _text_leak(text: str) -> LeakKind | None:
    if "-----BEGIN" in text and _PEM.search(text):  # the one secret with spaces in it
        return LeakKind.CREDENTIAL
    for word in text.split():
        if not _is_inert(word) and (kind := _word_leak(word)):
            return kind
    return LeakKind.FILE_NAME if _has_key_file(text) else None


def find_leak(text: str, literal_tokens: tuple[str, ...] = ()) -> LeakKind | None:
    """The kind of sensitive content in ``text``, or None when it may be sent.

    ``literal_tokens`` are lower-cased literals of at least three characters (what
    :attr:`PrivacyPolicy.literal_tokens` holds), matched case-insensitively as whole tokens,
    ``_`` ending those that hold more than letters (see the module docstring).
    A PEM block is looked for first; then each word in turn, by prefixed keys and JWTs, URLs,
    e-mail and IP addresses, paths, file names and high-entropy runs; literals come last.

    >>> find_leak("token=ghp_" + "a1B2" * 9)
    <LeakKind.CREDENTIAL: 'credential'>
    >>> find_leak("ask Alice (alice@example.com)")
    <LeakKind.EMAIL: 'email'>
    >>> find_leak("ask Alice", ("alice",))
    <LeakKind.SENSITIVE_LITERAL: 'sensitive_literal'>
    >>> find_leak("9f86d081884c7d659a2feaa0c55ad015")
    <LeakKind.CREDENTIAL: 'credential'>
    >>> [find_leak(value) for value in ("HYBRID", "0.5.0", "text/plain", "2026-11-28T01:04:35Z")]
    [None, None, None, None]
    """
    if _is_plain_word(text):
        if len(text) >= _MIN_SECRET_LENGTH:
            if kind := _word_leak(text):
                return kind
            if _has_key_file(text):
                return LeakKind.FILE_NAME
        elif "_" in text and text.lower() in _KEY_FILE_NAMES:  # only the bare name, to stay cheap
            return LeakKind.FILE_NAME
        elif len(text) == _BARE_MAC_LENGTH and _BARE_MAC.fullmatch(text):
            return LeakKind.MAC_ADDRESS
        if literal_tokens:
            lowered = text.lower()
            # A plain word holds a literal only by being it, or by joining a compound one to
            # other words with a ``_`` (``payments_internal_prod``).
            if lowered in literal_tokens or (
                "_" in text and _has_compound_literal(lowered, literal_tokens)
            ):
                return LeakKind.SENSITIVE_LITERAL
        return None
    kind = _text_leak(text)
    if kind is None and literal_tokens and _has_literal(text.lower(), literal_tokens):
        return LeakKind.SENSITIVE_LITERAL
    return kind


# --- Payloads ---------------------------------------------------------------------------------


class _Guard:
    """One walk over a payload: what to look for, and how many strings it replaced."""

    __slots__ = ("count", "digests", "literal_tokens", "vetted")

    def __init__(
        self, literal_tokens: tuple[str, ...], vetted: AbstractSet[str], digests: AbstractSet[str]
    ) -> None:
        self.literal_tokens = literal_tokens
        self.vetted = vetted
        self.digests = digests
        self.count = 0

    def leaks(self, text: str) -> bool:
        return (
            text not in self.vetted
            and text not in self.digests
            and find_leak(text, self.literal_tokens) is not None
        )

    def value(self, value: JSONValue) -> JSONValue:
        kind = type(value)
        if kind is int or kind is float or kind is bool or value is None:
            return value
        if kind is str or isinstance(value, str):
            if self.leaks(value):  # type: ignore[arg-type]
                self.count += 1
                return REDACTED
            return value
        if kind is dict or isinstance(value, dict):
            return self.object(value)  # type: ignore[arg-type]
        if kind is list or isinstance(value, list | tuple):
            return [self.value(item) for item in value]  # type: ignore[union-attr]
        return value

    def object(self, obj: dict[str, JSONValue]) -> JSONValue:
        flagged = {key for key in obj if self.leaks(key)}
        if not flagged:
            return {key: self.value(value) for key, value in obj.items()}
        # Keys that stay are reserved first, so a renamed key never overwrites a later one.
        taken = obj.keys() - flagged
        guarded: dict[str, JSONValue] = {}
        suffix = 1
        for key, value in obj.items():
            name = key
            if key in flagged:
                name, suffix = _free_key(taken, suffix)
                taken.add(name)
                self.count += 1
            guarded[name] = self.value(value)
        return guarded


def _free_key(taken: set[str], suffix: int) -> tuple[str, int]:
    """The first of ``[REDACTED]``, ``[REDACTED]#2``, ... from ``suffix`` on that is not taken.

    Suffixes only grow, so naming many flagged keys stays linear.

    >>> _free_key({"[REDACTED]", "[REDACTED]#2"}, 1)
    ('[REDACTED]#3', 3)
    """
    while (key := REDACTED if suffix == 1 else f"{REDACTED}#{suffix}") in taken:
        suffix += 1
    return key, suffix


def guard_payload(
    payload: JSONValue,
    literal_tokens: tuple[str, ...] = (),
    vetted: AbstractSet[str] = frozenset(),
    digests: AbstractSet[str] = frozenset(),
) -> tuple[JSONValue, int]:
    """A copy of ``payload`` with every flagged string and key replaced, and how many were.

    A flagged key becomes ``[REDACTED]``, or ``[REDACTED]#2``, ``#3``, ... when that is taken.
    Strings in ``vetted`` are not checked again: the core's own keyed digests (which the
    high-entropy rule would take for secrets), and labels and constant names it has already
    checked against the same literals. ``digests`` holds more of the core's digests (a
    policy's ``hashed_labels``), kept apart so that neither set is copied for each payload.
    Tuples come back as lists, other scalars as they are; the input is never changed.

    >>> guard_payload({"where": "/home/alice/x.py", "/etc/k": 1, "what": ["hybrid", "a@b.io"]})
    ({'where': '[REDACTED]', '[REDACTED]': 1, 'what': ['hybrid', '[REDACTED]']}, 3)
    """

    guard = _Guard(literal_tokens, vetted, digests)
    guarded = guard.value(payload)
    return guarded, guard.count
