"""Normalisation and validation of Chinese identifiers, phones, e-mails and dates.

Each validator takes raw input and returns the normalised value or raises `Invalid`
with a stable code and a Chinese message; the caller attaches the field name.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidLength, ValidationError


class Invalid(ValueError):
    """A single invalid value: stable code plus Chinese message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_SPACES = re.compile(r"[\s\u3000]+")


def normalize_text(value: object) -> str:
    """NFKC (full-width → half-width digits and letters), trimmed, inner runs of spaces collapsed."""
    text = unicodedata.normalize("NFKC", str(value))
    return _SPACES.sub(" ", text).strip()


def _compact(value: object) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", str(value))).replace("-", "")


def id_number(value: object) -> str:
    """身份证号 (18 digits, GB 11643 checksum, valid birth date) via python-stdnum cn.ric."""
    raw = _compact(value).upper()
    try:
        return ric.validate(raw)
    except InvalidChecksum:
        raise Invalid("id_checksum", "身份证号校验位错误") from None
    except InvalidLength:
        raise Invalid("id_length", "身份证号应为18位") from None
    except InvalidComponent:
        raise Invalid("id_birth_date", "身份证号中的出生日期无效") from None
    except ValidationError:
        raise Invalid("id_format", "身份证号格式错误") from None


def id_birth_date(number: str) -> date:
    """Birth date encoded in a valid 身份证号."""
    return ric.get_birth_date(number)


def credit_code(value: object) -> str:
    """统一社会信用代码 (18 characters with checksum) via python-stdnum cn.uscc."""
    raw = _compact(value).upper()
    try:
        return uscc.validate(raw)
    except InvalidChecksum:
        raise Invalid("uscc_checksum", "统一社会信用代码校验位错误") from None
    except InvalidLength:
        raise Invalid("uscc_length", "统一社会信用代码应为18位") from None
    except ValidationError:
        raise Invalid("uscc_format", "统一社会信用代码格式错误") from None


def _parse_cn(value: object) -> phonenumbers.PhoneNumber:
    raw = unicodedata.normalize("NFKC", str(value)).strip()
    try:
        return phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        raise Invalid("phone_format", "电话号码格式错误") from None


def mobile(value: object) -> str:
    """Chinese mobile number, normalised to 11 digits (accepts +86, spaces, full-width digits)."""
    num = _parse_cn(value)
    if num.country_code != 86 or not phonenumbers.is_valid_number(num):
        raise Invalid("mobile_invalid", "手机号码无效")
    if phonenumbers.number_type(num) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise Invalid("mobile_not_mobile", "不是手机号码（固定电话请填写在“固定电话”）")
    return str(num.national_number)


def landline(value: object) -> str:
    """Chinese landline, normalised to area code - number (e.g. 010-62345678)."""
    num = _parse_cn(value)
    if num.country_code != 86 or not phonenumbers.is_valid_number(num):
        raise Invalid("phone_invalid", "固定电话号码无效")
    if phonenumbers.number_type(num) == phonenumbers.PhoneNumberType.MOBILE:
        raise Invalid("phone_is_mobile", "这是手机号码，请填写在“手机”")
    national = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
    parts = national.split(" ", 1)
    return parts[0] + "-" + parts[1].replace(" ", "") if len(parts) == 2 else national


def email(value: object) -> str:
    """E-mail address, syntax checked (no network), domain lower-cased."""
    raw = normalize_text(value)
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError:
        raise Invalid("email_invalid", "电子邮箱格式错误") from None


def a_date(value: object) -> date:
    """A calendar date in ISO form (YYYY-MM-DD; full-width digits accepted)."""
    if isinstance(value, date):
        return value
    raw = normalize_text(value).replace("/", "-").replace(".", "-")
    raw = raw.replace("年", "-").replace("月", "-").replace("日", "")
    try:
        y, m, d = (int(p) for p in raw.split("-"))
        return date(y, m, d)
    except (ValueError, TypeError):
        raise Invalid("date_invalid", "日期格式错误，应为 YYYY-MM-DD") from None


def past_date(value: object) -> date:
    """A date not in the future (birth dates and the like)."""
    d = a_date(value)
    if d > date.today():
        raise Invalid("date_in_future", "日期不能晚于今天")
    if d.year < 1900:
        raise Invalid("date_too_early", "日期不能早于1900年")
    return d
