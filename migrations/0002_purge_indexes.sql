CREATE INDEX "deliveries_received_idx" ON "deliveries" USING btree ("received_at");--> statement-breakpoint
CREATE INDEX "deliveries_payload_expires_idx" ON "deliveries" USING btree ("payload_expires_at") WHERE "deliveries"."payload" is not null;--> statement-breakpoint
CREATE INDEX "tombstones_expires_idx" ON "tombstones" USING btree ("expires_at");