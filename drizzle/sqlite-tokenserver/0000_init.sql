CREATE TABLE `nodes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`service` integer NOT NULL,
	`node` text(64) NOT NULL,
	`available` integer NOT NULL,
	`current_load` integer NOT NULL,
	`capacity` integer NOT NULL,
	`downed` integer NOT NULL,
	`backoff` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `unique_idx` ON `nodes` (`service`,`node`);--> statement-breakpoint
CREATE TABLE `services` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`service` text(30),
	`pattern` text(128)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `services_service_unique` ON `services` (`service`);--> statement-breakpoint
CREATE TABLE `users` (
	`uid` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`service` integer NOT NULL,
	`email` text(255) NOT NULL,
	`generation` integer NOT NULL,
	`client_state` text(32) NOT NULL,
	`created_at` integer NOT NULL,
	`replaced_at` integer,
	`nodeid` integer NOT NULL,
	`keys_changed_at` integer
);
--> statement-breakpoint
CREATE INDEX `lookup_idx` ON `users` (`email`,`service`,`created_at`);--> statement-breakpoint
CREATE INDEX `replaced_at_idx` ON `users` (`service`,`replaced_at`);--> statement-breakpoint
CREATE INDEX `node_idx` ON `users` (`nodeid`);--> statement-breakpoint
INSERT INTO `services` (`service`, `pattern`) VALUES ('sync-1.5', '{node}/1.5/{uid}');
