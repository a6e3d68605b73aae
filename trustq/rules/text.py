"""Checks on the resume text: off-platform requests, guarantees, keyword stuffing, years."""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from typing import Any

from trustq.rules.common import EVIDENCE_LIST_MAX, SNIPPET_CHARS, by_threshold, rounded
from trustq.rules.flags import Flag, Severity
from trustq.schemas import Profile

RESUME_YEARS = ((3.0, 1.5), (8.0, 2.0))  # medium, high
# A history shorter than a year is counted as one year.
MIN_HISTORY_YEARS = 1.0
# A skills section of twenty terms is how honest CVs are written; a list is stuffing when it
# makes up much of the resume, or runs far past any skills section.
STUFFING_LIST_ITEMS = (20, 40)  # with the share below, alone
STUFFING_LIST_SHARE = (0.25, 0.4)  # medium, high
STUFFING_LIST_ITEMS_HIGH = 60
STUFFING_REPEAT_MIN_COUNT = 10
STUFFING_REPEAT_RATIO = (0.12, 0.2)  # medium, high
STUFFING_WINDOW_WORDS = 200
# Negation and clause scope never look further back than this; it also bounds the work
# per match on text without punctuation.
_LOOKBACK_CHARS = 300

# --- Text ------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+|\n+")
_HARD_BREAK = re.compile(
    r"[;:()\[\]]|\s[-–—]\s|—|\b(?:but|however|though|although|whereas|while)\b"
)
# Sentence-level negation. "don't hesitate to ..." is an invitation, not a negation.
_NEGATOR = re.compile(
    # "to avoid delays, message me on WhatsApp" avoids the delay, not the channel.
    r"\b(?:never|not|nor|neither|none|nobody|nothing|cannot|\w+n't|refus\w*|"
    r"avoid\w*(?!\s+(?:any\s+|the\s+)?(?:delays?|confusion|misunderstandings?|waiting|wait|"
    r"fees?|platform\s+fees?|commission))|"
    r"declin\w*|forbid\w*|prohibit\w*|against|wary|beware|careful|warn\w*|scam\w*|"
    # Spanish, Portuguese, German, French, Italian
    r"nunca|jam[aá]s|jamais|não|nao|nem|nie|niemals|nicht|kein\w*|pas|mai|"
    # "no" is also Portuguese for "in the": "me chama no WhatsApp" denies nothing.
    r"no(?!\s+(?:zap|whats\w*|wpp|telegram|signal|pix|meu|minha|privado|pv|direct|inbox)))\b"
    r"(?!\s+hesitate)"
)
# Contrast that only reaches the phrase right after it: "here rather than on Telegram".
_CONTRAST = re.compile(
    r"\brather\s+than\b|\binstead\s+of\b|\bthan\b(?!\s+\$?\d)|"
    r"\bprefer\w*\s+(?!to\b)[^,]*?\bto\s+(?=(?:the|a|an|my|your|payments?|\w+ing)\b)"
)
# "Payments outside the platform are against the rules": the denial follows the phrase.
_DENIED_AFTER = re.compile(
    r"\b(?:is|are)\s+(?:not\s+allowed|against|forbidden|prohibited|banned|a\s+scam|"
    r"risky|unsafe)\b|"
    r"\bviolat\w*|\bbreak\w*\s+the\s+(?:rules|terms)"
)
# "and", "so" or "then" before a new subject or an instruction start a clause of their own.
_JOINED_CLAUSE = re.compile(
    r"\b(?:and|so|then)\s+(?:i|we|you|let's|let|please|just|pay|message|contact|text|ping|"
    r"write|send|reach|call|email|add|dm|clients?)\b"
)
# A denial reaches a phrase this many words after it at most ("I never ask clients to pay
# outside the platform": five).
_NEGATION_REACH_WORDS = 10
# After a comma, these start a new statement, so an earlier "never" stops applying.
_CLAUSE_RESTART = re.compile(
    r",\s*(?:i|we|you|let's|let|please|just|only|so|then|instead|pay|message|contact|text|"
    r"ping|write|send|reach|call|email|add|dm|feel|happy|glad|willing)\b"
)


# Letters from other scripts that look Latin: "PаyPal" with a Cyrillic "а" reads "PayPal".
_LOOKALIKES = str.maketrans(
    "аеорсухіјѕԁһӏԛԝɑАВЕКМНОРСТХУαορτικνΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdhlqwaABEKMHOPCTXYaoptikvABEZHIKMNOPTYX",
)


def normalise(text: str) -> str:
    """The text the rules read: compatibility forms folded (full-width letters, ligatures),
    invisible format characters (zero-width spaces, soft hyphens) removed, Latin
    look-alikes from other scripts replaced."""
    folded = unicodedata.normalize("NFKC", text)
    visible = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return visible.translate(_LOOKALIKES)


class ResumeText:
    """Resume text with the positions needed to judge a match inside its sentence."""

    def __init__(self, text: str) -> None:
        text = normalise(text)
        self.raw = text
        # Same length as the original, so match offsets stay valid for both; the few
        # characters whose lower case is longer ("İ") are kept as they are.
        low = text.lower()
        if len(low) != len(text):
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
        self.low = low.replace("’", "'").replace("‘", "'")
        self.starts = [0] + [m.end() for m in _SENTENCE_END.finditer(self.low)]

    def sentence(self, pos: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, pos) - 1
        start = self.starts[i]
        end = self.starts[i + 1] if i + 1 < len(self.starts) else len(self.low)
        return max(start, pos - _LOOKBACK_CHARS), min(end, pos + _LOOKBACK_CHARS)

    def snippet(self, pos: int) -> str:
        s0, s1 = self.sentence(pos)
        return self.raw[s0:s1].strip()[:SNIPPET_CHARS]

    def negated(self, pos: int, end: int | None = None) -> bool:
        """Whether the phrase at ``pos:end`` is denied or contrasted away in its sentence."""
        s0, s1 = self.sentence(pos)
        if end is not None:
            post = self.low[end:s1]
            stop = _HARD_BREAK.search(post)
            if _DENIED_AFTER.search(post, 0, stop.start() if stop else len(post)):
                return True
        pre = self.low[s0:pos]
        last_break = _last(_HARD_BREAK, pre)
        if last_break is not None:
            pre = pre[last_break.end() :]
        contrast = _last(_CONTRAST, pre)
        if contrast is not None and "," not in pre[contrast.end() :]:
            return True
        negator = _last(_NEGATOR, pre)
        if negator is None:
            return False
        between = pre[negator.end() :]
        # "I never miss a deadline and you pay me via PayPal": the denial is in another
        # clause, or too far back to reach the phrase.
        return not (
            _CLAUSE_RESTART.search(pre, negator.end())
            or _JOINED_CLAUSE.search(between)
            or len(between.split()) > _NEGATION_REACH_WORDS
        )


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 - only the last match is wanted
        pass
    return found


_APP = (
    r"(?:telegram|whats\s?app|skype|signal|discord|wechat|viber|imessage|sms|"
    r"(?:my\s+)?(?:personal\s+|private\s+)?(?:e-?mail|gmail|phone(?:\s+number)?|cell))"
)
_CONTACT_PATTERNS = (
    # "message me on Telegram", "reach us via WhatsApp", "hit me up on Skype"
    re.compile(
        r"\b(?:message|msg|text|ping|dm|contact|reach(?:\s+out)?(?:\s+to)?|call|add|find|hit|"
        r"write(?:\s+to)?|e-?mail|get\s+in\s+touch\s+with|talk\s+to|chat\s+with)\s+(?:me|us)\b"
        r"[^.!?;\n]{0,40}?"
        rf"(?P<ch>\b(?:on|via|over|through|at|in|using|by)\s+{_APP})\b"
    ),
    # "let's move to WhatsApp", "continue on Telegram"; needs someone addressed (below).
    re.compile(
        r"\b(?:talk|continue|move|switch|connect|communicate|speak|discuss|stay|"
        r"(?:(?<=let's )|(?<=to )|(?<=can )|(?<=we )|(?<=i )|(?<=and )|(?<=please ))chat)\b"
        rf"[^.!?;\n]{{0,40}}?(?P<ch>\b(?:on|via|over|to|through|in|onto)\s+{_APP})\b"
    ),
    # "I send drafts over Telegram"
    re.compile(
        r"\b(?:share|send|sending|sharing)\s+(?:me\s+|you\s+)?(?:the\s+|your\s+|my\s+|all\s+)?"
        r"(?:files?|drafts?|invoices?|details|messages|updates|documents|docs|requirements|"
        r"briefs?|designs?|code|work)\b[^.!?;\n]{0,40}?"
        rf"(?P<ch>\b(?:on|via|over|through|to|in|by)\s+{_APP})\b"
    ),
    # "WhatsApp: +44 7700 900123", "my Telegram is @ana"
    re.compile(
        r"(?P<ch>\b(?:telegram|whats\s?app|skype|signal|discord|wechat|viber|instagram|ig)\b"
        r"(?:\s+(?:id|handle|number|is))?\s*[:\-]?\s*(?:@\w{2,}(?:\.\w+)*|\+?\d[\d\s().-]{6,}\d|"
        r"(?<=id)\s*[a-z0-9_.]{3,}|(?<=id:)\s*[a-z0-9_.]{3,}|live:[a-z0-9_.]{3,}))"
    ),
    # Links that open a chat outside the platform: wa.me/…, t.me/…, m.me/…, discord.gg/…
    re.compile(
        r"(?P<ch>\b(?:wa\.me|t\.me|m\.me|discord\.gg|api\.whatsapp\.com|chat\.whatsapp\.com)"
        r"\s*/\s*\+?[\w\d]+)"
    ),
)
# The conversational patterns above fire only when someone is being addressed, so
# "a support chat in Telegram" in a project description does not count.
_ADDRESSEE = re.compile(r"\b(?:me|us|let's|let\s+us|we|you|your|clients?\s+who)\b")

_PAY_CHANNEL = (
    r"(?:paypal|crypto(?:currency)?|bitcoin|btc|usdt|ethereum|western\s+union|moneygram|"
    r"payoneer|venmo|zelle|cash\s?app|gift\s+cards?|wise|revolut|binance(?:\s+pay)?|"
    r"(?:t/t\s+)?bank\s+wire|"
    r"(?:direct\s+)?(?:bank|wire)\s+transfer|bank\s+wire|wire|direct\s+(?:payment|deposit)|"
    r"bank\s+(?:account|deposit)|wallet)"
)
# Refusing the platform's own payments: "do not use the platform milestone", "i dont use
# the site payments", "not through the platform". The negation is the request here.
# "To avoid the platform fee, …", "you save the commission": a request when said to the
# reader; "helped sellers move to Shopify, saving platform fees" is someone's work.
_FEE_AVOIDANCE = re.compile(
    r"(?P<ch>\b(?:avoid(?:ing)?|skip(?:ping)?|save|saving|without)\s+(?:of\s+)?"
    r"(?:the\s+(?!site)|this\s+(?!site))?"
    r"(?:platform|marketplace|website|upwork|fiverr|the\s+site|this\s+site)(?:'s)?"
    r"(?:\s+(?:fees?|commission|cut))?\b)"
)
# Advance fees: money asked before any work, outside any milestone ("every new client
# must pay a one-time registration fee").
_ADVANCE_FEE = re.compile(
    r"(?P<ch>\b(?:registration|onboarding|application|activation|processing|membership|"
    r"licen[cs]e|studio|booking|joining|admin(?:istration)?)\s+fees?\b)"
)
_ADDRESSED = re.compile(r"\b(?:you|your|we|us|me|my|i|let's|clients?)\b")
# An advance fee is demanded of the reader; "updated the processing fee of client
# portfolios" is a banker's work.
_DEMAND = re.compile(
    r"\b(?:must|need\s+to|needs\s+to|have\s+to|has\s+to|required\s+to|should)\s+"
    r"(?:first\s+)?(?:pay|send|transfer)\b|\b(?:pay|send)\s+(?:me|us)\b|"
    r"\bi\s+(?:need|require|ask\s+for|charge)\b"
)
_PLATFORM_REFUSAL = re.compile(
    r"(?P<ch>\b(?:do\s*n[o']?t|don'?t|dont|never|not|no)\s+(?:use\s+|work\s+with\s+|"
    r"pay\s+(?:through|via|on)\s+|go(?:es)?\s+through\s+|through\s+|via\s+)"
    r"(?:the\s+|this\s+)?(?:platform|site|marketplace|website)(?:'s)?"
    r"(?P<what>\s+(?:payments?|milestones?|escrow|system|contracts?))?\b)"
)
_PAYMENT_PATTERNS = (
    # "outside the platform", "avoid the platform fee", "off-platform"
    re.compile(
        r"(?P<ch>\b(?:outside|off|around|bypass(?:ing)?|circumvent(?:ing)?)\s+(?:of\s+)?"
        r"(?:the\s+(?!site)|this\s+(?!site))?"
        r"(?:platform|marketplace|website|upwork|fiverr|the\s+site|this\s+site)(?:'s)?"
        r"(?:\s+(?:fees?|commission|cut))?\b|\boff-platform\b)"
    ),
    # "payment via wire transfer", "to my PayPal", "paid in crypto"
    re.compile(
        r"(?P<ch>\b(?:via|by|through|over|to|with|using|in|into)\s+(?:my\s+)?(?:own\s+)?"
        rf"(?:personal\s+|private\s+)?(?:a\s+)?{_PAY_CHANNEL})\b"
    ),
    re.compile(
        r"(?P<ch>\bpay\s+me\s+directly\b|\bpaid\s+directly\b|"
        # "work with me directly: no 20% service fee", "hire me directly and save the fee"
        r"\b(?:work(?:ing)?|deal(?:ing)?|contract(?:ing)?)\s+(?:with\s+)?(?:me|us)\s+directly\b|"
        r"\bhire\s+(?:me|us)\s+directly\b|"
        r"\bno\s+(?:\d+\s?%\s+)?(?:service|platform|marketplace|site)\s+(?:fees?|commission|cut)\b)"
    ),
    # "I accept Amazon gift cards", "I only take USDT": the writer names how to be paid.
    re.compile(
        r"\b(?:i|we)\s+(?:only\s+|also\s+|gladly\s+|happily\s+)?(?:accept|take|prefer|receive)"
        r"\b[^.!?;\n]{0,40}?"
        r"(?P<ch>\bgift\s+cards?|\bcrypto\w*|\bbitcoin|\bbtc\b|\busdt\b|\bethereum|"
        r"\bwestern\s+union|\bmoneygram|\bzelle|\bvenmo|\bcash\s?app|"
        r"\bpaypal\s+(?:friends|f&f|family)|\bwire\s+transfers?|\bbank\s+(?:transfers?|wires?))"
    ),
    # "CASH APP ONLY", "only via Zelle", "USDT only"
    re.compile(
        r"(?P<ch>\b(?:only|solely|exclusively)\s+(?:via\s+|by\s+|through\s+|in\s+|with\s+)?"
        r"(?:gift\s+cards?|crypto\w*|bitcoin|btc|usdt|ethereum|eth|binance(?:\s+pay)?|"
        r"western\s+union|moneygram|zelle|venmo|cash\s?app|revolut|paypal\s+(?:friends|f&f))\b|"
        r"\b(?:gift\s+cards?|crypto|bitcoin|btc|usdt|binance(?:\s+pay)?|western\s+union|"
        r"moneygram|zelle|venmo|cash\s?app|revolut|paypal\s+(?:friends(?:\s+(?:and|&)\s+family)?|"
        r"f&f))\s+only\b)"
    ),
    _PLATFORM_REFUSAL,
    _FEE_AVOIDANCE,
    _ADVANCE_FEE,
    re.compile(
        r"(?P<ch>\bgift\s+cards?\s+(?:are\s+)?(?:accepted|welcome|ok|okay|preferred)|"
        r"\bclients?\s+who\s+pay\s+(?:by|via|with|in|through)\s+\w+(?:\s+\w+)?\s+get)\b"
    ),
)
_REFUSAL = _PAYMENT_PATTERNS.index(_PLATFORM_REFUSAL)
_AVOIDANCE = _PAYMENT_PATTERNS.index(_FEE_AVOIDANCE)
_ADVANCE = _PAYMENT_PATTERNS.index(_ADVANCE_FEE)
_PAY_CUE = re.compile(
    r"\b(?:pay|paid|paying|payments?|invoic\w*|fees?|money|deposit\w*|escrow|milestones?|"
    r"upfront|refunds?)\b"
)
# Off-platform phrasing counts when the sentence is about paying or talking.
_PAY_OR_CONTACT_CUE = re.compile(
    r"\b(?:pay|paid|paying|payments?|invoic\w*|bill\w*|fees?|money|transfer\w*|deposit\w*|"
    r"discount|rates?|contact|message\w*|talk|chat|e-?mail|call|text|deal|hire|contracts?|"
    r"communicat\w*|reach|meet|escrow)\b"
)
# A payment channel is a request only when the writer is the one being paid; a
# developer's "built a checkout with PayPal" is not.
_RECEIVING_FRAME = re.compile(
    r"\b(?:i|we)\s+(?:only\s+|also\s+|can\s+|will\s+|'d\s+|would\s+)?"
    r"(?:accept|take|prefer|receive|require|ask\s+for|charge|invoice|suggest|propose)\b|"
    # The writer is the one paid: "get paid", "paid to me"; "paid suppliers via wire" is work.
    r"\bpay\s+me\b|\b(?:i|we)\s+(?:\w+\s+){0,2}?(?:get|be|am|are)\s+paid\b|\bi'?m\s+paid\b|"
    r"\b(?:prefer|like|want|need|happy|glad)\s+to\s+(?:be|get)\s+paid\b|\bgetting\s+paid\b|"
    r"\bpaid\s+(?:to\s+me|directly|upfront|up\s+front|in\s+advance|in\s+full|first)\b|"
    r"\bto\s+my\b|\bmy\s+(?:paypal|wallet|bank)|"
    r"\b(?:happy|glad|willing|ok|okay|fine|open)\s+to\s+(?:take|accept|receive|get\s+paid)\b|"
    r"\bfor\s+a\s+(?:\d+\s?%\s+)?discount\b|\blower\s+(?:rate|price)\b|"
    # Proposals to the reader, not descriptions of work: "clients can pay me", "payment can
    # be arranged", "we can set up milestone payments".
    r"\bclients?\s+(?:can|may|should|who)\s+pay\s+(?:me|us)\b|"
    r"\bpayments?\s+(?:can|will|should|must)\s+(?:be\s+)?(?:made|sent|arranged|done|paid)\b|"
    r"\b(?:we\s+can|we'?ll|we\s+will|let'?s|i\s+can|i'?ll|i\s+will)\s+(?:set\s+up|arrange)\s+"
    r"(?:the\s+)?(?:milestone\s+)?payments?\b|"
    r"\bdon'?t\s+pay\s+(?:extra|the\s+fee|fees|charges)|\bextra\s+charges\b|"
    r"\bpay\s+(?:my|our)\b|\bto\s+(?:our|a|the)\s+(?:\w+\s+){0,3}account\b"
)

# Outcomes nobody can promise (rankings, reviews, income), not the service promises honest
# people write ("100% satisfaction guaranteed", "unlimited revisions"): those are common
# in honest profiles and say nothing about risk.
_OUTCOME = (
    r"(?:rankings?|sales|traffic|revenue|roi|profits?|income|earnings|leads|followers|likes|"
    # "5-star reviews guaranteed" promises a rating; "five-star service" is about the work.
    r"approval|(?:five|5)[- ]?(?:star|\*|★)s?(?!\s+(?:service|quality|work|support|experience))"
    r"(?:\s+(?:reviews?|ratings?|feedback))?|"
    r"(?:positive\s+)?(?:reviews?|ratings?|feedback)|first[- ]page|page\s+(?:one|1)|"
    r"top\s+(?:rankings?|positions?|spots?|3|10)|#\s?1|number\s+one|\d+x|"
    r"(?:return|returns)\s+on|viral|virality|funding|visas?|loans?|jobs?|interviews?)"
)
_GUARANTEE_PATTERNS = (
    re.compile(
        r"\bguarantee[ds]?\s+(?:you\s+|that\s+you(?:'ll|\s+will)\s+(?:get|see|reach)\s+)?"
        rf"(?:[\w'-]+\s+){{0,3}}?{_OUTCOME}"
    ),
    re.compile(rf"\b{_OUTCOME}\s+(?:is\s+|are\s+)?(?:100\s?%\s+)?guaranteed\b"),
    re.compile(rf"\b(?:guaranteed|assured)\s+(?:[\w'-]+\s+){{0,2}}?{_OUTCOME}"),
    re.compile(
        r"\b(?:or\s+you\s+don'?t\s+pay|or\s+(?:it'?s\s+)?free|or\s+double\s+your\s+money|"
        r"double\s+your\s+(?:money|income|investment))\b"
    ),
)
# Payment and contact phrasing in Spanish, Portuguese, German, French and Italian, the
# languages most often met beside English on the marketplaces trustq serves.
_OUTSIDE_ML = (
    r"(?:(?:por\s+)?fuera\s+de\s+(?:la\s+|esta\s+)?(?:plataforma|p[aá]gina|web)|"
    r"fora\s+da\s+(?:plataforma|p[aá]gina)|por\s+fora\b|"
    r"au[ßs]erhalb\s+(?:der|dieser)\s+(?:plattform|seite|website)|"
    r"(?:en\s+dehors\s+de\s+la|hors\s+de\s+la|hors)[\s-]+plate-?forme|"
    r"fuori\s+(?:dalla|della)\s+piattaforma|"
    r"(?:sin|evit\w*|ahorr\w*|sem|econom\w*|ohne|spar\w*|sans|évit\w*|senza)\s+"
    r"(?:la\s+|a\s+|las\s+|as\s+|die\s+|les\s+|le\s+)?"
    r"(?:comisi[oó]n|comiss[aã]o|taxas?|geb[üu]hr(?:en)?|plattformgeb[üu]hr(?:en)?|provision|"
    r"frais|commission|commissione))"
)
_CHANNEL_ML = (
    r"(?:paypal|cripto\w*|crypto\w*|krypto\w*|bitcoins?|btc|usdt|pix|bizum|sepa|wise|zelle|"
    r"binance(?:\s+pay)?|revolut|billetera|carteira|portefeuille|"
    r"tarjetas?\s+de\s+regalo|cart[õo]es?\s+(?:de\s+)?presente|geschenkkarten?|gutscheinkarten?|"
    r"cartes?[\s-]cadeaux?|carte\s+regalo|"
    r"western\s+union|transferencia(?:\s+bancaria)?|transfer[êe]ncia(?:\s+banc[aá]ria)?|"
    r"(?:bank)?[üu]berweisung|virement(?:\s+bancaire)?|bonifico(?:\s+bancario)?|"
    r"dep[oó]sito(?:\s+bancario)?|cuenta\s+bancaria|conta\s+banc[aá]ria|bankkonto|"
    r"compte\s+bancaire|conto\s+bancario|efectivo|dinheiro|bargeld|esp[eè]ces|contanti)"
)
_RECEIVING_ML = re.compile(
    r"\b(?:acepto|aceptamos|recibo|cobro|prefiero|p[aá]game|p[aá]gueme|pagarme|aceito|recebo|"
    r"prefiro|pague-me|me\s+pague|akzeptiere|nehme|bevorzuge|zahlen\s+sie|zahlt|"
    r"j'accepte|accepte|je\s+pr[ée]f[èe]re|payez|paye-moi|accetto|preferisco|pagami|"
    r"descuento|rabatt|desconto|r[ée]duction|remise|sconto|directamente|diretamente|direkt|"
    r"directement|direttamente|uniquement|solamente|somente|nur|"
    r"(?:mon|mi|minha|meu|mein\w*|mio)\s+(?:compte|cuenta|conta|konto|conto)|"
    r"(?:compte|cuenta|conta|konto|conto)\s+(?:personnel|personal|pessoal|privat\w*|personale))\b"
)
_CUE_ML = re.compile(
    r"\b(?:pag\w*|cobr\w*|zahl\w*|bezahl\w*|[üu]berweis\w*|paie\w*|pay\w*|virement|"
    r"transfer\w*|contact\w*|kontakt\w*|escr[ií]b\w*|schreib\w*|[ée]cri\w*|scriv\w*|"
    r"fal[ae]\w*|chama\w*|mensaje\w*|mensage\w*|nachricht\w*|message\w*|messaggi\w*|"
    r"whats\s?app|telegram|comisi[oó]n|comiss[aã]o|geb[üu]hr\w*|frais|commission\w*|"
    r"descuento|rabatt|desconto|remise|sconto|precio|preis|prix|prezzo|pre[çc]o|"
    r"dep[oó]sit\w*|vorkasse|anticip\w*|adelantado|acompte)"
)
_APP_ML = (
    r"(?:whats\s?app|wasap|guasap|wsp|wpp|zap|telegram|signal|skype|discord|wechat|viber|"
    r"correo(?:\s+personal)?|"
    r"e-?mail|gmail|tel[eé]fono|telefone|telefon|t[ée]l[ée]phone|n[uú]mero|nummer|num[ée]ro|"
    r"handy|celular|m[oó]vil|portable|cellulare)"
)
_CONTACT_ML = re.compile(
    r"\b(?:escr[ií]be(?:me|nos)?|escr[ií]beme|cont[aá]cta(?:me|nos)|cont[aá]ctame|h[aá]blame|"
    r"ll[aá]ma(?:me)?|mand[ae](?:me)?\s+(?:un\s+)?mensaje|me\s+chama|chama\s+no|fale\s+comigo|"
    r"me\s+(?:mande|manda|envie)\s+(?:uma\s+)?mensagem|contate-me|me\s+contate|"
    r"schreib(?:en\s+sie|t)?\s+mir|kontaktier(?:en\s+sie|t)?\s+mich|ruf(?:en\s+sie)?\s+mich|"
    r"melde(?:n\s+sie\s+sich|\s+dich)|[ée]cri(?:vez|s)-moi|contactez-moi|appelez-moi|"
    r"scrivimi|scrivetemi|contattami|chiamami)\b[^.!?;\n]{0,40}?"
    r"(?P<ch>\b(?:por|en|al|a|no|na|pelo|pela|via|per|[üu]ber|auf|unter|sur|par|au|su)\s+"
    rf"(?:mi\s+|meu\s+|minha\s+|mein\w*\s+|mon\s+|ma\s+|il\s+mio\s+)?{_APP_ML})\b"
)
_PAYMENT_ML = (
    re.compile(rf"(?P<ch>\b{_OUTSIDE_ML})"),
    # Refusing the platform's payments: "no trabajo con los pagos de la plataforma",
    # "no pasa por la plataforma", "nicht über die Plattform", "pas via la plateforme".
    re.compile(
        r"(?P<ch>\b(?:no|nunca|não|nao|nicht|nie|pas|jamais|non)\s+(?:\w+\s+){0,3}?"
        r"(?:por|pela|pelo|über|ueber|via|par|tramite|sobre|con|com|mit|avec)\s+"
        r"(?:los\s+pagos\s+de\s+|os\s+pagamentos\s+da\s+|les\s+paiements\s+de\s+)?"
        r"(?:la\s+|a\s+|die\s+|le\s+)?(?:plataforma|plattform|plateforme|piattaforma))"
    ),
    re.compile(
        r"(?P<ch>\b(?:por|via|v[ií]a|pelo|pela|en|em|per|[üu]ber|mit|par|en|con|tramite|in)\s+"
        rf"(?:mi\s+|meu\s+|minha\s+|mein\w*\s+|mon\s+|ma\s+)?{_CHANNEL_ML})\b"
    ),
    re.compile(
        r"(?P<ch>\bpag(?:o|ar(?:me)?|amento)\s+(?:direct[oa]|diret[oa]|directamente|diretamente)|"
        r"\bdirekt\s+(?:an\s+mich\s+)?(?:zahlen|bezahlen|[üu]berweisen)|"
        r"\b(?:paiement|payer|payez-moi)\s+directement|\bpagamento\s+diretto|"
        r"\b(?:meu|minha\s+chave(?:\s+do)?|chave(?:\s+do)?|passo\s+o|paga\s+no|pagar\s+no|"
        r"pague\s+no|manda\s+no)\s+pix\b)"
    ),
)

# Literal words that every match of a pattern group contains. Finding them with
# str.find and running the full patterns only on the sentences around them keeps a
# long resume cheap: Python's regex engine has no fast path for leading alternations.
_CONTACT_ANCHORS = (
    "wa.me",
    "t.me",
    "m.me",
    "discord.gg",
    "instagram",
    "ig:",
    "ig @",
    "telegram",
    "whats",
    "skype",
    "signal",
    "discord",
    "wechat",
    "viber",
    "imessage",
    "sms",
    "mail",
    "phone",
    "cell",
)
_CONTACT_ML_ANCHORS = (
    "wasap",
    "guasap",
    "wsp",
    "whats",
    "wpp",
    "zap",
    "telegram",
    "signal",
    "skype",
    "discord",
    "wechat",
    "viber",
    "correo",
    "mail",
    "tel",
    "num",
    "handy",
    "celular",
    "móvil",
    "movil",
    "portable",
)
_PAYMENT_ML_ANCHORS = (
    "fuera",
    "fora",
    "außerhalb",
    "ausserhalb",
    "hors",
    "dehors",
    "fuori",
    "comisi",
    "comiss",
    "taxa",
    "gebühr",
    "gebuhr",
    "provision",
    "frais",
    "commission",
    "paypal",
    "cripto",
    "crypto",
    "krypto",
    "bitcoin",
    "btc",
    "usdt",
    "pix",
    "bizum",
    "sepa",
    "wise",
    "zelle",
    "union",
    "transfer",
    "berweisung",
    "virement",
    "bonifico",
    "depósito",
    "deposito",
    "bancari",
    "bank",
    "efectivo",
    "dinheiro",
    "bargeld",
    "espèces",
    "especes",
    "contanti",
    "direct",
    "diret",
    "direkt",
    "diretto",
    "binance",
    "revolut",
    "billetera",
    "carteira",
    "regalo",
    "presente",
    "geschenk",
    "gutschein",
    "cadeau",
    "plataforma",
    "plattform",
    "plateforme",
    "piattaforma",
)
_PAYMENT_ANCHORS = (
    "fee",
    "only",
    "revolut",
    "binance",
    "platform",
    "site",
    "marketplace",
    "upwork",
    "fiverr",
    "paypal",
    "crypto",
    "bitcoin",
    "btc",
    "usdt",
    "ethereum",
    "union",
    "moneygram",
    "payoneer",
    "venmo",
    "zelle",
    "cash",
    "gift card",
    "wise",
    "transfer",
    "direct",
    "account",
    "wallet",
)
_GUARANTEE_ANCHORS = ("guarant", "assured", "don't pay", "dont pay", "free", "double")
# A resume of nothing but trigger phrases should not cost more than a normal one.
_MAX_MATCHES = 200


def _find_phrases(
    text: ResumeText, patterns: tuple[re.Pattern[str], ...], anchors: tuple[str, ...]
) -> Iterator[tuple[int, re.Match[str]]]:
    low = text.low
    windows: list[tuple[int, int]] = []
    for anchor in anchors:
        at = low.find(anchor)
        while at != -1:
            # Each occurrence gets its own window, so a mention early in a long sentence
            # does not cut off a request further on.
            windows.append(text.sentence(at))
            at = low.find(anchor, at + len(anchor))
    if not windows:
        return
    windows.sort()
    merged = [windows[0]]
    for w0, w1 in windows[1:]:
        m0, m1 = merged[-1]
        if w0 <= m1:
            merged[-1] = (m0, max(m1, w1))
        else:
            merged.append((w0, w1))
    found = 0
    for index, pattern in enumerate(patterns):
        for w0, w1 in merged:
            for match in pattern.finditer(low, w0, w1):
                yield index, match
                found += 1
                if found >= _MAX_MATCHES:
                    return


def off_platform_flags(text: ResumeText) -> Iterator[Flag]:
    hits: dict[int, dict[str, Any]] = {}  # by sentence start, so one sentence counts once

    def record(kind: str, match: re.Match[str]) -> None:
        pos = match.start("ch")
        s0, _ = text.sentence(pos)
        hit = hits.setdefault(
            s0, {"sentence": text.snippet(pos), "phrases": [], "kind": kind, "pos": pos}
        )
        phrase = text.raw[match.start("ch") : match.end("ch")]
        if phrase not in hit["phrases"]:
            hit["phrases"].append(phrase)
        if kind == "payment":
            hit["kind"] = "payment"

    for index, match in _find_phrases(text, _CONTACT_PATTERNS, _CONTACT_ANCHORS):
        pos = match.start("ch")
        s0, s1 = text.sentence(pos)
        if index == 1 and not _ADDRESSEE.search(text.low, s0, s1):
            continue
        if not text.negated(pos, match.end("ch")):
            record("contact", match)
    for index, match in _find_phrases(text, _PAYMENT_PATTERNS, _PAYMENT_ANCHORS):
        pos = match.start("ch")
        s0, s1 = text.sentence(pos)
        if index == 0 and not _PAY_OR_CONTACT_CUE.search(text.low, s0, s1):
            continue
        if index == _REFUSAL:
            # A refusal of the platform is the request itself: its negation is not a denial.
            # It is about payment when it names payments or the sentence does.
            if match.group("what") or _PAY_CUE.search(text.low, s0, s1):
                record("payment", match)
            elif _PAY_OR_CONTACT_CUE.search(text.low, s0, s1):
                record("contact", match)
            continue
        if index == 1 and not _RECEIVING_FRAME.search(text.low, s0, s1):
            continue
        if index == _AVOIDANCE and not (
            _ADDRESSED.search(text.low, s0, s1) or _RECEIVING_FRAME.search(text.low, s0, s1)
        ):
            continue
        if index == _ADVANCE and not _DEMAND.search(text.low, s0, s1):
            continue
        if not text.negated(pos, match.end("ch")):
            record("payment", match)
    for _, match in _find_phrases(text, (_CONTACT_ML,), _CONTACT_ML_ANCHORS):
        if not text.negated(match.start("ch"), match.end("ch")):
            record("contact", match)
    for index, match in _find_phrases(text, _PAYMENT_ML, _PAYMENT_ML_ANCHORS):
        pos = match.start("ch")
        s0, s1 = text.sentence(pos)
        if index in (0, 1) and not _CUE_ML.search(text.low, s0, s1):
            continue
        if index == 2 and not _RECEIVING_ML.search(text.low, s0, s1):
            continue
        # A refusal of the platform is the request itself: its negation is not a denial.
        if index == 1 or not text.negated(pos, match.end("ch")):
            record("payment", match)

    if not hits:
        return
    found = sorted(hits.values(), key=lambda h: h["pos"])
    payment = any(h["kind"] == "payment" for h in found)
    # Payment off the platform is decisive; contact is the step before it, for a person to see.
    severity = Severity.high if payment else Severity.medium
    what = "payment" if payment else "contact"
    yield Flag(
        "off_platform_request",
        severity,
        f'The resume asks to move {what} off the platform: "{found[0]["sentence"]}"',
        {
            "count": len(found),
            "matches": [
                {"kind": h["kind"], "phrases": h["phrases"], "sentence": h["sentence"]}
                for h in found[:EVIDENCE_LIST_MAX]
            ],
        },
    )


def guarantee_flags(text: ResumeText) -> Iterator[Flag]:
    hits: dict[int, dict[str, Any]] = {}
    for _, match in _find_phrases(text, _GUARANTEE_PATTERNS, _GUARANTEE_ANCHORS):
        pos = match.start()
        if text.negated(pos, match.end()):
            continue
        s0, _ = text.sentence(pos)
        hit = hits.setdefault(s0, {"sentence": text.snippet(pos), "phrases": [], "pos": pos})
        phrase = text.raw[match.start() : match.end()]
        if phrase not in hit["phrases"]:
            hit["phrases"].append(phrase)
    if not hits:
        return
    found = sorted(hits.values(), key=lambda h: h["pos"])
    yield Flag(
        "guarantee_language",
        Severity.medium if len(found) >= 2 else Severity.low,
        f'The resume promises guaranteed outcomes: "{found[0]["phrases"][0]}".',
        {
            "count": len(found),
            "matches": [
                {"phrases": h["phrases"], "sentence": h["sentence"]}
                for h in found[:EVIDENCE_LIST_MAX]
            ],
        },
    )


_EMAIL = (
    re.compile(r"[a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*\.[a-z]{2,12}\b"),
    # Spelled out to get past filters: "ana (at) gmail (dot) com", "ana at gmail dot com".
    re.compile(
        r"[a-z0-9][a-z0-9._%+-]{0,63}\s*[(\[{]\s*at\s*[)\]}]\s*[a-z0-9-]{1,63}"
        r"(?:\s*(?:\.|[(\[{]\s*dot\s*[)\]}]|\s+dot\s+)\s*[a-z0-9-]{1,63})+"
    ),
    re.compile(r"[a-z0-9][a-z0-9._%+-]{0,63}\s+at\s+[a-z0-9-]{1,63}(?:\s+dot\s+[a-z]{2,12})+\b"),
)
# A phone number: an international prefix, or a number right after a word that names it.
# Years, date ranges and amounts have no "+" and no such word before them.
# Every gap is bounded: a label followed by thousands of spaces costs nothing.
_PHONE = re.compile(
    r"(?:\+\s?\d{1,3}|\b(?:phone|tel|telephone|mobile|cell|whats\s?app|call|text|sms|"
    r"tel[eé]fono|telefone|telefon|handy|celular|m[oó]vil|portable|cellulare|t[ée]l[ée]phone|"
    r"t[ée]l|zap)\b[.:#\s-]{0,6}(?:(?:no\.?|number|n[uú]mero|nummer)[.:#\s-]{0,4})?\+?)"
    r"[\s(]{0,3}\d[\d\s().-]{6,18}\d"
)
_EMAIL_ANCHORS = ("@", "at)", "at]", "at}", " dot ")
_PHONE_ANCHORS = (
    "+",
    "phone",
    "tel",
    "mobile",
    "cell",
    "whats",
    "call",
    "text",
    "sms",
    "handy",
    "celular",
    "móvil",
    "movil",
    "portable",
    "zap",
)
# Common placeholder addresses in templates and examples, never a real person's.
_EXAMPLE_DOMAINS = re.compile(r"@\s*(?:example|email|domain|mail)\s*\.\s*(?:com|org|net)\b")


def contact_details_flags(text: ResumeText) -> Iterator[Flag]:
    """An e-mail address or a phone number written into the resume: clients can reach the
    freelancer directly, around the platform's messages and payments."""
    found: list[dict[str, str]] = []
    for _, match in _find_phrases(text, _EMAIL, _EMAIL_ANCHORS):
        value = text.raw[match.start() : match.end()]
        if _EXAMPLE_DOMAINS.search(match.group()):
            continue
        found.append({"kind": "email", "value": value, "sentence": text.snippet(match.start())})
    for _, match in _find_phrases(text, (_PHONE,), _PHONE_ANCHORS):
        digits = sum(c.isdigit() for c in match.group())
        if not 8 <= digits <= 15:
            continue
        value = text.raw[match.start() : match.end()].strip()
        found.append({"kind": "phone", "value": value, "sentence": text.snippet(match.start())})
    if not found:
        return
    kinds = {f["kind"] for f in found}
    what = " and ".join(
        name
        for kind, name in (("email", "an e-mail address"), ("phone", "a phone number"))
        if kind in kinds
    )
    yield Flag(
        "contact_details",
        Severity.medium,
        f"The resume gives {what} to reach the freelancer directly: {found[0]['value']!r}.",
        {"count": len(found), "matches": found[:EVIDENCE_LIST_MAX]},
    )


_SEPARATOR_MARK = re.compile(r"[,|•·:;]|\s[-–—/]\s")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_LIST_SEPARATOR = re.compile(r"\s*[,|•·:;]\s*|\s+[-–—/]\s+")
_WORD = re.compile(r"[a-z][a-z0-9+#]*(?:[.'-][a-z0-9+#]+)*")
_STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as into over under about than
    then so that this these those it its i me my we our us you your he she they them their is
    am are was were be been being have has had do does did not no never can could will would
    shall should may might must just also very more most less all any each every some such
    only own same other both few many much per via who whom which what when where why how
    there here up out off again further once while during before after above below
    between"""
    # The commonest function words of Spanish, Portuguese, French, German and Italian:
    # "de" a dozen times in a Portuguese paragraph is grammar, not stuffing.
    """de la el los las del y o en que por con para un una al lo se su sus es como más
    da do das dos e em na no nas nos com uma os as ao à é ou mais
    le les des et du au aux pour dans sur une est par avec ne pas qui
    der die das den dem des und oder im zu mit von für ist ein eine einer auf bei als
    di il che per gli nel della delle dei con non""".split()
)


def stuffing_flags(text: ResumeText) -> Iterator[Flag]:
    words = _WORD.findall(text.low)
    if not words:
        return
    total_words = len(words)

    best: tuple[int, int, int, int] | None = None  # items, words, start, end
    low = text.low
    separators = [m.start() for m in _SEPARATOR_MARK.finditer(low)]
    bounds = [*text.starts, len(low)]
    for seg_start, seg_end in zip(bounds, bounds[1:], strict=False):
        n_separators = bisect.bisect_left(separators, seg_end) - bisect.bisect_left(
            separators, seg_start
        )
        if n_separators < STUFFING_LIST_ITEMS[0] - 1:
            continue  # cannot hold a run long enough; skips ordinary sentences cheaply
        segment = low[seg_start:seg_end]
        run_items = run_words = 0
        run_start = 0
        offset = 0
        for piece in _LIST_SEPARATOR.split(segment):
            n_words = len(piece.split())
            short = 1 <= n_words <= 3 and len(piece) <= 40 and _HAS_LETTER.search(piece)
            item_start = segment.find(piece, offset) if piece else offset
            offset = item_start + len(piece)
            if short:
                if run_items == 0:
                    run_start = item_start
                run_items += 1
                run_words += n_words
                if best is None or run_items > best[0]:
                    best = (run_items, run_words, seg_start + run_start, seg_start + offset)
            else:
                run_items = run_words = 0
    items, run_words, start, end = best or (0, 0, 0, 0)
    share = run_words / total_words
    if (items >= STUFFING_LIST_ITEMS[0] and share >= STUFFING_LIST_SHARE[0]) or (
        items >= STUFFING_LIST_ITEMS[1]
    ):
        high = share >= STUFFING_LIST_SHARE[1] or items >= STUFFING_LIST_ITEMS_HIGH
        yield Flag(
            "keyword_stuffing",
            Severity.high if high else Severity.medium,
            f"The resume holds a run of {items} listed terms ({share:.0%} of its words).",
            {
                "kind": "list",
                "items": items,
                "share_of_words": rounded(share),
                "thresholds": {
                    "items": list(STUFFING_LIST_ITEMS),
                    "share": list(STUFFING_LIST_SHARE),
                },
                "phrase": text.raw[start:end].strip(" \t\n.!?;:")[:SNIPPET_CHARS],
            },
        )

    # Windows of two consecutive blocks, each block counted once: a stuffed paragraph
    # stands out even inside a long resume, at linear cost.
    step = STUFFING_WINDOW_WORDS // 2
    content = [w if w not in _STOPWORDS and len(w) > 1 else "" for w in words]
    blocks = []
    for b in range(0, len(content), step):
        counts = Counter(content[b : b + step])
        counts.pop("", None)
        best_count = max(counts.values(), default=0)
        blocks.append((min(step, len(content) - b), counts, best_count))
    pairs = list(zip(blocks, blocks[1:], strict=False)) or [(blocks[0], (0, Counter(), 0))]
    top: tuple[float, str, int, int] | None = None  # ratio, term, count, window
    for (n_a, counts_a, best_a), (n_b, counts_b, best_b) in pairs:
        n = n_a + n_b
        bound = best_a + best_b  # no term can do better than both blocks' best together
        if bound < STUFFING_REPEAT_MIN_COUNT or bound / n < STUFFING_REPEAT_RATIO[0]:
            continue
        if top is not None and bound / n <= top[0]:
            continue
        for term in counts_a.keys() | counts_b.keys():
            count = counts_a.get(term, 0) + counts_b.get(term, 0)
            ratio = count / n
            if count >= STUFFING_REPEAT_MIN_COUNT and (top is None or ratio > top[0]):
                top = (ratio, term, count, n)
    if top is None:
        return
    ratio, term, count, window_words = top
    severity = by_threshold(ratio, STUFFING_REPEAT_RATIO)
    if severity is None:
        return
    at = re.search(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])", text.low)
    yield Flag(
        "keyword_stuffing",
        severity,
        f"The term {term!r} makes up {ratio:.0%} of a {window_words}-word stretch ({count} times).",
        {
            "kind": "repetition",
            "term": term,
            "count": count,
            "window_words": window_words,
            "ratio": rounded(ratio),
            "thresholds": list(STUFFING_REPEAT_RATIO),
            "phrase": text.snippet(at.start()) if at else term,
        },
    )


# "1.5 years" is one and a half, not five: the number is read whole, decimals included.
_YEARS_NUMBER = r"(?<![\d.,])(?P<n>\d{1,2}(?:[.,]\d+)?)"
_TEXT_YEARS = (
    re.compile(
        _YEARS_NUMBER + r"\s*\+?\s*(?:years?|yrs?)\b(?:\s+of)?(?:\s+[a-z-]+){0,2}?\s+"
        r"(?:experience|in\s+the\s+(?:field|industry|trade|business)|behind\s+me)\b"
    ),
    re.compile(r"\bexperience\s+of\s+" + _YEARS_NUMBER + r"\s*\+?\s*(?:years?|yrs?)\b"),
)
_YEARS_ANCHORS = ("year", "yrs", "yr ")


def resume_years_flags(text: ResumeText, profile: Profile, history_years: float) -> Iterator[Flag]:
    best: re.Match[str] | None = None
    best_years = 0.0
    for _, match in _find_phrases(text, _TEXT_YEARS, _YEARS_ANCHORS):
        years = float(match.group("n").replace(",", "."))
        if years > best_years and not text.negated(match.start(), match.end()):
            best, best_years = match, years
    if best is None:
        return
    claimed = profile.claimed_years_experience
    if claimed is None:
        return  # a career figure in the text has no career claim to disagree with
    # Time on this platform is part of a career, so it can only raise the reference.
    reference = max(claimed, history_years)
    excess = best_years - reference
    ratio = best_years / max(reference, MIN_HISTORY_YEARS)
    severity = None
    for sev, (min_excess, min_ratio) in zip(
        (Severity.medium, Severity.high), RESUME_YEARS, strict=True
    ):
        if excess >= min_excess and ratio >= min_ratio:
            severity = sev
    if severity is None:
        return
    yield Flag(
        "resume_years_inflated",
        severity,
        f"The resume states {best_years:g} years of experience, more than the claim "
        f"({claimed:g}) and the history ({history_years:.1f} years) support.",
        {
            "stated_years": best_years,
            "claimed_years": claimed,
            "history_years": rounded(history_years, 2),
            "phrase": text.raw[best.start() : best.end()],
            "sentence": text.snippet(best.start()),
        },
    )
