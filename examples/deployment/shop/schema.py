"""Each service's tables, created once before any replica starts (replicas creating tables at the same moment
collide, see docs/deployment.md). Stock and payment actions are PL/pgSQL functions: each runs under a per-order lock,
records its outcome and answers a repeated request with it, so it acts once per order even when a saga is started
again for it; ``effects`` logs every change applied (the end-to-end run checks that none was applied twice)."""

from __future__ import annotations

TRANSACTIONS = """
CREATE TABLE transactions (uuid uuid PRIMARY KEY, state text NOT NULL);
"""

ORDER = (
    TRANSACTIONS
    + """
CREATE TABLE orders (
    id integer PRIMARY KEY, item text NOT NULL, quantity integer NOT NULL, amount integer NOT NULL,
    status text NOT NULL
);
"""
)

_EFFECTS = """
CREATE TABLE effects (order_id integer NOT NULL, action text NOT NULL);
"""

STOCK = (
    TRANSACTIONS
    + _EFFECTS
    + """
CREATE TABLE stock (item text PRIMARY KEY, initial integer NOT NULL, available integer NOT NULL);
CREATE TABLE holds (order_id integer PRIMARY KEY, item text, quantity integer NOT NULL, state text NOT NULL);

CREATE FUNCTION reserve_stock(p_order integer, p_item text, p_quantity integer) RETURNS text AS $$
DECLARE
    previous holds%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(p_order);
    SELECT * INTO previous FROM holds WHERE order_id = p_order;
    IF FOUND THEN  -- a repeated request gets the recorded answer; after a release, the hold comes too late
        RETURN CASE WHEN previous.state = 'held' THEN 'held' ELSE 'refused' END;
    END IF;
    UPDATE stock SET available = available - p_quantity WHERE item = p_item AND available >= p_quantity;
    IF NOT FOUND THEN
        INSERT INTO holds VALUES (p_order, p_item, p_quantity, 'refused');
        RETURN 'refused';
    END IF;
    INSERT INTO holds VALUES (p_order, p_item, p_quantity, 'held');
    INSERT INTO effects VALUES (p_order, 'reserve');
    RETURN 'held';
END $$ LANGUAGE plpgsql;

CREATE FUNCTION release_stock(p_order integer) RETURNS text AS $$
DECLARE
    previous holds%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(p_order);
    SELECT * INTO previous FROM holds WHERE order_id = p_order;
    IF NOT FOUND THEN  -- the release overtook its hold: record it, so the hold is refused when it arrives
        INSERT INTO holds VALUES (p_order, NULL, 0, 'released');
        RETURN 'nothing held';
    END IF;
    IF previous.state <> 'held' THEN
        RETURN 'nothing held';
    END IF;
    UPDATE stock SET available = available + previous.quantity WHERE item = previous.item;
    UPDATE holds SET state = 'released' WHERE order_id = p_order;
    INSERT INTO effects VALUES (p_order, 'release');
    RETURN 'released';
END $$ LANGUAGE plpgsql;
"""
)

PAYMENT = (
    TRANSACTIONS
    + _EFFECTS
    + """
CREATE TABLE account (balance bigint NOT NULL);
INSERT INTO account VALUES (0);
CREATE TABLE payments (order_id integer PRIMARY KEY, amount integer NOT NULL, state text NOT NULL);

CREATE FUNCTION charge_payment(p_order integer, p_amount integer, p_limit integer) RETURNS text AS $$
DECLARE
    previous payments%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(p_order);
    SELECT * INTO previous FROM payments WHERE order_id = p_order;
    IF FOUND THEN
        RETURN CASE WHEN previous.state = 'charged' THEN 'charged' ELSE 'declined' END;
    END IF;
    IF p_amount > p_limit THEN
        INSERT INTO payments VALUES (p_order, p_amount, 'declined');
        RETURN 'declined';
    END IF;
    INSERT INTO payments VALUES (p_order, p_amount, 'charged');
    UPDATE account SET balance = balance + p_amount;
    INSERT INTO effects VALUES (p_order, 'charge');
    RETURN 'charged';
END $$ LANGUAGE plpgsql;

CREATE FUNCTION refund_payment(p_order integer) RETURNS text AS $$
DECLARE
    previous payments%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(p_order);
    SELECT * INTO previous FROM payments WHERE order_id = p_order;
    IF NOT FOUND THEN
        INSERT INTO payments VALUES (p_order, 0, 'refunded');
        RETURN 'nothing charged';
    END IF;
    IF previous.state <> 'charged' THEN
        RETURN 'nothing charged';
    END IF;
    UPDATE account SET balance = balance - previous.amount;
    UPDATE payments SET state = 'refunded' WHERE order_id = p_order;
    INSERT INTO effects VALUES (p_order, 'refund');
    RETURN 'refunded';
END $$ LANGUAGE plpgsql;
"""
)

SCHEMAS = {"order": ORDER, "stock": STOCK, "payment": PAYMENT}
