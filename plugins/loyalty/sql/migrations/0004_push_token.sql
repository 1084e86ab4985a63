-- Revision 0004, raw.customers.push_token: the FCM registration token of the customer's app install (null without
-- the app); the push address, as email and phone are the others. Added last, after loaded_at, in a new warehouse
-- and an upgraded one alike, so both have the same column order for `insert ... select *`.
alter table raw.customers add column if not exists push_token text;
