DROP INDEX "contacts_account_email_idx";--> statement-breakpoint
DROP INDEX "contacts_account_external_id_unique";--> statement-breakpoint
CREATE UNIQUE INDEX "contacts_account_external_id_unique" ON "contacts" USING btree ("account_id","external_id") WHERE "contacts"."external_id" is not null;