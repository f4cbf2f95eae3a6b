CREATE TABLE `batch_upload_items` (
	`batch` integer NOT NULL,
	`userid` integer NOT NULL,
	`id` text NOT NULL,
	`sortindex` integer,
	`payload` text,
	`payload_size` integer,
	`ttl_offset` integer,
	PRIMARY KEY(`batch`, `userid`, `id`)
);
--> statement-breakpoint
CREATE TABLE `batch_uploads` (
	`batch` integer NOT NULL,
	`userid` integer NOT NULL,
	`collection` integer NOT NULL,
	PRIMARY KEY(`batch`, `userid`)
);
--> statement-breakpoint
CREATE TABLE `bso` (
	`userid` integer NOT NULL,
	`collection` integer NOT NULL,
	`id` text NOT NULL,
	`sortindex` integer,
	`payload` text NOT NULL,
	`payload_size` integer DEFAULT 0,
	`modified` integer NOT NULL,
	`ttl` integer DEFAULT 3153600000000 NOT NULL,
	PRIMARY KEY(`userid`, `collection`, `id`)
);
--> statement-breakpoint
CREATE INDEX `bso_expiry_idx` ON `bso` (`ttl`);--> statement-breakpoint
CREATE INDEX `bso_usr_col_mod_idx` ON `bso` (`userid`,`collection`,`modified`);--> statement-breakpoint
CREATE TABLE `collections` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `collections_name_unique` ON `collections` (`name`);--> statement-breakpoint
CREATE TABLE `user_collections` (
	`userid` integer NOT NULL,
	`collection` integer NOT NULL,
	`last_modified` integer NOT NULL,
	`total_bytes` integer,
	`count` integer,
	PRIMARY KEY(`userid`, `collection`)
);
--> statement-breakpoint
INSERT INTO `collections` (`id`, `name`) VALUES (1, 'clients'), (2, 'crypto'), (3, 'forms'), (4, 'history'), (5, 'keys'), (6, 'meta'), (7, 'bookmarks'), (8, 'prefs'), (9, 'tabs'), (10, 'passwords'), (11, 'addons'), (12, 'addresses'), (13, 'creditcards'), (100, '');
