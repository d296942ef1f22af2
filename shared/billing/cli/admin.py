"""Administrative ``billing`` sub-commands: schema, tenants, instances, keys, templates, hours, config."""

from __future__ import annotations

import argparse
import json
from typing import Any

from billing.cli.common import (
    UsageError,
    csv_list,
    emit,
    in_session,
    iso_date,
    iso_time,
    positive,
    secret_from_env,
)
from billing.errors import BillingError, MalformedApiKeyError

# Where the gateway posts an instance's events (the webhook function's route); printed by ``instance add``
# because the gateway's webhook URL needs the instance's id.
WEBHOOK_PATH = "/api/v1/billing/webhook/evolution/{instance_id}"


def _created(args: argparse.Namespace, answer: dict[str, Any], *, created: bool) -> dict[str, Any]:
    """With ``--if-missing`` the answer says whether this run created the object."""
    return {**answer, "created": created} if args.if_missing else answer


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from billing.db.migrate import upgrade

    upgrade(revision=args.revision)
    emit({"upgraded_to": args.revision})
    return 0


def cmd_tenant_create(args: argparse.Namespace) -> int:
    from billing.services import admin

    options: dict[str, Any] = {
        "display_name": args.display_name,
        "timezone": args.timezone,
        "country": args.country,
        "subdivision": args.subdivision,
        "locale": args.locale,
    }

    def work(session: Any) -> dict[str, Any]:
        if args.if_missing:  # an existing one is left as it is: `billing config set` changes a tenant
            tenant, created = admin.ensure_tenant(args.name, session=session, **options)
        else:
            tenant, created = admin.create_tenant(args.name, session=session, **options), True
        return _created(args, admin.public_dict(tenant), created=created)

    emit(in_session(work))
    return 0


def cmd_instance_add(args: argparse.Namespace) -> int:
    from billing.config import get_settings
    from billing.services import admin

    api_key = secret_from_env(args.api_key_from_env) if args.api_key_from_env else args.api_key
    given_secret = (
        secret_from_env(args.webhook_secret_from_env) if args.webhook_secret_from_env else args.webhook_secret
    )
    options: dict[str, Any] = {
        "name": args.name,
        "url": args.url,
        "api_key": api_key,
        "secret_key": get_settings().billing_secret_key.get_secret_value(),
        "default": args.default,
        "gateway_instance": args.gateway_instance,
        "api_version": args.api_version,
    }

    def work(session: Any) -> dict[str, Any]:
        tenant = admin.resolve_tenant(args.tenant, session=session)
        if args.if_missing:  # an existing one that is not the one asked for is refused
            inst, created, webhook_secret = admin.ensure_instance(
                tenant, session=session, webhook_secret=given_secret, **options
            )
        else:
            webhook_secret = given_secret or admin.new_webhook_secret()
            inst = admin.add_instance(tenant, session=session, webhook_secret=webhook_secret, **options)
            created = True
        answer = {**admin.public_dict(inst), "webhook_path": WEBHOOK_PATH.format(instance_id=inst.id)}
        # A generated secret is shown once (only its hash is stored): configure it as the gateway's webhook
        # header now. One read from the environment is the operator's own and is never printed.
        if created and not args.webhook_secret_from_env:
            answer["webhook_secret"] = webhook_secret
        return _created(args, answer, created=created)

    emit(in_session(work))
    return 0


def cmd_instance_update(args: argparse.Namespace) -> int:
    """Change an instance's URL, key or webhook secret; a new key clears ``auth_failed`` and resumes the
    instance's parked queues."""
    from billing import bootstrap
    from billing.config import get_settings
    from billing.services import admin

    now = bootstrap.clock().now()

    secret = get_settings().billing_secret_key.get_secret_value()

    webhook_secret = admin.new_webhook_secret() if args.new_webhook_secret else args.webhook_secret

    def work(session: Any) -> tuple[dict[str, Any], list[Any]]:
        tenant = admin.resolve_tenant(args.tenant, session=session)
        inst = admin.resolve_instance(tenant, args.name, session=session)
        admin.update_instance(
            inst,
            session=session,
            secret_key=secret,
            url=args.url,
            api_key=args.api_key,
            webhook_secret=webhook_secret,
        )
        shown = {"webhook_secret": webhook_secret} if args.new_webhook_secret else {}
        resumed = admin.resume_instance_queues(inst, session=session, now=now) if args.api_key else []
        return {**admin.public_dict(inst), **shown, "queues_resumed": [str(c.queue_id) for c in resumed]}, resumed

    answer, resumed = in_session(work)
    if resumed:
        from billing.db.engine import unit_of_work
        from billing.services.publishing import publish_claimed

        with unit_of_work() as uow:  # without RabbitMQ the sweeper publishes them on its next tick
            publish_claimed(
                resumed, reason="instance_key_updated", stamp=now, publisher=bootstrap.publisher_or_deferred(), uow=uow
            )
    emit(answer)
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from billing.services import admin

    given = secret_from_env(args.key_from_env) if args.key_from_env else None
    options: dict[str, Any] = {
        "name": args.name,
        "types": csv_list(args.types),
        "ips": csv_list(args.ips),
        "expires": args.expires,
        "rate_limit": args.rate_limit,
        "read_only": args.read_only,
        "key": given,
    }

    def work(session: Any) -> dict[str, Any]:
        tenant = admin.resolve_tenant(args.tenant, session=session)
        if args.if_missing:  # an existing one that is revoked or is not the given key is refused
            key, created, plaintext = admin.ensure_api_key(tenant, session=session, **options)
        else:
            (key, plaintext), created = admin.create_api_key(tenant, session=session, **options), True
        shown = {"key": plaintext} if created and given is None else {}  # generated: shown once
        return _created(args, {**admin.public_dict(key), **shown}, created=created)

    try:
        emit(in_session(work))
    except MalformedApiKeyError as exc:  # which variable held it, never the key
        raise UsageError(f"{args.key_from_env} {exc.reason}") from exc
    return 0


def cmd_apikey_revoke(args: argparse.Namespace) -> int:
    from billing.services import admin

    def work(session: Any) -> dict[str, Any]:
        tenant = admin.resolve_tenant(args.tenant, session=session)
        return admin.public_dict(admin.revoke_api_key(tenant, session=session, name=args.name))

    emit(in_session(work))
    return 0


def cmd_template_add(args: argparse.Namespace) -> int:
    from billing.services import admin

    schema = None
    if args.schema:
        try:
            schema = json.loads(args.schema)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--schema is not valid JSON: {exc.msg}") from exc

    def work(session: Any) -> dict[str, Any]:
        tenant = admin.resolve_tenant(args.tenant, session=session)
        template = admin.add_template(
            tenant,
            session=session,
            template_type=args.type,
            name=args.name,
            bodies=args.body,
            default=args.default,
            weights=args.weight,
            variables_schema=schema,
        )
        return {**admin.public_dict(template), "variations": len(args.body)}

    emit(in_session(work))
    return 0


def cmd_hours_set(args: argparse.Namespace) -> int:
    from billing.domain.hours import parse_days
    from billing.services import admin

    try:
        days = parse_days(args.days)
    except (ValueError, BillingError) as exc:
        raise UsageError(f"--days: {exc}") from exc

    def work(session: Any) -> list[dict[str, Any]]:
        tenant = admin.resolve_tenant(args.tenant, session=session)
        rows = admin.set_hours(tenant, session=session, weekdays=days, start=args.start, end=args.end, add=args.add)
        return [admin.public_dict(r) for r in rows]

    emit(in_session(work))
    return 0


def cmd_hours_close(args: argparse.Namespace) -> int:
    from billing.services import admin

    def work(session: Any) -> dict[str, Any]:
        tenant = admin.resolve_tenant(args.tenant, session=session)
        return admin.public_dict(admin.add_closed_date(tenant, session=session, day=args.date, reason=args.reason))

    emit(in_session(work))
    return 0


def cmd_config_set(args: argparse.Namespace) -> int:
    from billing.services import admin

    changes = {
        "throttle_per_minute": args.throttle_per_minute,
        "jitter_s": args.jitter,
        "daily_cap": args.daily_cap,
        "batch_size": args.batch_size,
        "max_contacts_per_request": args.max_contacts,
        "api_rate_limit_per_minute": args.rate_limit,
        "api_read_rate_limit_per_minute": args.read_rate_limit,
        "timezone": args.timezone,
        "default_instance": args.default_instance,
        "opt_out_keywords": csv_list(args.opt_out_keywords),
        "opt_out_confirmation": args.opt_out_confirmation,
        "retention_days": args.retention_days,
    }

    def work(session: Any) -> dict[str, Any]:
        tenant = admin.resolve_tenant(args.tenant, session=session)
        return admin.public_dict(admin.set_config(tenant, session=session, **changes))

    emit(in_session(work))
    return 0


# --- parser -------------------------------------------------------------------------------------------


def cmd_secrets_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt the stored gateway keys and webhook secrets with the newest BILLING_SECRET_KEY (see docs)."""
    from billing.config import get_settings
    from billing.services import admin

    secret = get_settings().billing_secret_key.get_secret_value()
    emit({"reencrypted": in_session(lambda session: admin.rotate_gateway_keys(session=session, secret_key=secret))})
    return 0


IF_MISSING_HELP = 'when one of that name exists, leave it unchanged and print it with "created": false'


def register(sub: Any) -> None:

    secrets = sub.add_parser("secrets", help="secrets at rest").add_subparsers(dest="sub", required=True)
    rotate = secrets.add_parser(
        "rotate",
        help="re-encrypt stored gateway keys and webhook secrets with the first key of BILLING_SECRET_KEY (new,old)",
    )
    rotate.set_defaults(handler=cmd_secrets_rotate)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="sub", required=True)
    up = db.add_parser("upgrade", help="apply migrations")
    up.add_argument("--revision", default="head")
    up.set_defaults(handler=cmd_db_upgrade)

    tenant = sub.add_parser("tenant").add_subparsers(dest="sub", required=True)
    tc = tenant.add_parser("create", help="create a tenant with default hours and templates")
    tc.add_argument("name")
    tc.add_argument("--display-name")
    tc.add_argument("--timezone", default="America/Sao_Paulo")
    tc.add_argument("--country", default="BR")
    tc.add_argument("--subdivision")
    tc.add_argument("--locale", default="pt_BR")
    tc.add_argument("--if-missing", action="store_true", help=IF_MISSING_HELP)
    tc.set_defaults(handler=cmd_tenant_create)

    instance = sub.add_parser("instance").add_subparsers(dest="sub", required=True)
    ia = instance.add_parser("add", help="register a WhatsApp instance (Evolution API)")
    ia.add_argument("--tenant", required=True)
    ia.add_argument("--name", required=True)
    ia.add_argument("--url", required=True)
    gateway_key = ia.add_mutually_exclusive_group(required=True)
    gateway_key.add_argument("--api-key")
    gateway_key.add_argument("--api-key-from-env", metavar="VAR", help="read the gateway's API key from $VAR")
    ia.add_argument("--default", action="store_true")
    ia.add_argument("--gateway-instance", help="the instance name at the gateway, if not --name")
    ia.add_argument("--api-version", default="v2", choices=["v1", "v2"])
    webhook_secret = ia.add_mutually_exclusive_group()
    webhook_secret.add_argument(
        "--webhook-secret",
        help="secret the gateway sends in the webhook header (32+ characters; default: generated, shown once)",
    )
    webhook_secret.add_argument(
        "--webhook-secret-from-env", metavar="VAR", help="read the webhook secret from $VAR (not printed)"
    )
    ia.add_argument(
        "--if-missing",
        action="store_true",
        help=IF_MISSING_HELP + "; an existing one with another URL, key or webhook secret is an error",
    )
    ia.set_defaults(handler=cmd_instance_add)
    iu = instance.add_parser("update", help="change an instance's URL, API key or webhook secret")
    iu.add_argument("--tenant", required=True)
    iu.add_argument("--name", required=True)
    iu.add_argument("--url")
    iu.add_argument("--api-key")
    secret_change = iu.add_mutually_exclusive_group()
    secret_change.add_argument("--webhook-secret", help="a new webhook secret of your own (32+ characters)")
    secret_change.add_argument("--new-webhook-secret", action="store_true", help="generate a new one, shown once")
    iu.set_defaults(handler=cmd_instance_update)

    apikey = sub.add_parser("apikey").add_subparsers(dest="sub", required=True)
    kc = apikey.add_parser("create", help="create an API key (printed once)")
    kc.add_argument("--tenant", required=True)
    kc.add_argument("--name", required=True)
    kc.add_argument("--types", help="comma-separated template types this key may send, read and control")
    kc.add_argument("--ips", help="comma-separated CIDRs this key may be used from")
    kc.add_argument("--expires", type=iso_date, help="last day of use (YYYY-MM-DD, to its end in the tenant's zone)")
    kc.add_argument("--read-only", action="store_true", help="may read queue status, not send or control")
    kc.add_argument("--rate-limit", type=positive, help="requests per minute")
    kc.add_argument(
        "--key-from-env",
        metavar="VAR",
        help="use the key in $VAR (bk_<8 hex>_<32+ characters>) instead of generating one; it is not printed",
    )
    kc.add_argument(
        "--if-missing",
        action="store_true",
        help=IF_MISSING_HELP + "; an existing one that is revoked or is not the key in --key-from-env is an error",
    )
    kc.set_defaults(handler=cmd_apikey_create)
    kr = apikey.add_parser("revoke")
    kr.add_argument("--tenant", required=True)
    kr.add_argument("--name", required=True)
    kr.set_defaults(handler=cmd_apikey_revoke)

    template = sub.add_parser("template").add_subparsers(dest="sub", required=True)
    ta = template.add_parser("add", help="add a template with 1-5 bodies (variations)")
    ta.add_argument("--tenant", required=True)
    ta.add_argument("--type", required=True, choices=["overdue", "upcoming", "notification"])
    ta.add_argument("--name", required=True)
    ta.add_argument("--body", required=True, action="append")
    ta.add_argument("--weight", type=positive, action="append")
    ta.add_argument("--default", action="store_true")
    ta.add_argument("--schema", help="JSON Schema the contacts' variables must satisfy")
    ta.set_defaults(handler=cmd_template_add)

    hours = sub.add_parser("hours").add_subparsers(dest="sub", required=True)
    hs = hours.add_parser("set", help="business hours window on the given days")
    hs.add_argument("--tenant", required=True)
    hs.add_argument("--days", required=True, help="mon-fri, sat, mon,wed,fri ...")
    hs.add_argument("--from", dest="start", required=True, type=iso_time)
    hs.add_argument("--to", dest="end", required=True, type=iso_time)
    hs.add_argument("--add", action="store_true", help="add a window instead of replacing those days")
    hs.set_defaults(handler=cmd_hours_set)
    hc = hours.add_parser("close", help="a date on which nothing is sent (besides holidays)")
    hc.add_argument("--tenant", required=True)
    hc.add_argument("--date", required=True, type=iso_date)
    hc.add_argument("--reason")
    hc.set_defaults(handler=cmd_hours_close)

    config = sub.add_parser("config").add_subparsers(dest="sub", required=True)
    cs = config.add_parser("set", help="tenant billing configuration")
    cs.add_argument("--tenant", required=True)
    cs.add_argument("--throttle-per-minute", type=positive)
    cs.add_argument("--jitter", type=float, help="seconds of random extra gap between messages")
    cs.add_argument("--daily-cap", type=positive)
    cs.add_argument(
        "--batch-size", type=positive, help="kept for old scripts: dispatch by pacing slot has no per-queue batch"
    )
    cs.add_argument("--max-contacts", type=positive)
    cs.add_argument("--rate-limit", type=positive, help="API requests per minute per key (send, control)")
    cs.add_argument(
        "--read-rate-limit", type=positive, help="API reads per minute per key (status, contacts; default 600)"
    )
    cs.add_argument("--timezone")
    cs.add_argument("--default-instance")
    cs.add_argument("--opt-out-keywords", help="comma-separated words that opt a phone out")
    cs.add_argument("--opt-out-confirmation", help="text sent back after an opt-out")
    cs.add_argument(
        "--retention-days", type=positive, help="keep finished contacts, chat history and audit this long (7-3650)"
    )
    cs.set_defaults(handler=cmd_config_set)
