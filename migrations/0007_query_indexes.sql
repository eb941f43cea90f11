CREATE INDEX "contact_labels_label_contact_idx" ON "contact_labels" USING btree ("label_id","contact_id");--> statement-breakpoint
CREATE INDEX "deliveries_account_rare_status_idx" ON "deliveries" USING btree ("account_id","status","received_at","id") WHERE "deliveries"."status" in ('refused', 'stale');--> statement-breakpoint
DROP INDEX "contact_labels_label_idx";
