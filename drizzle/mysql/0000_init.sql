CREATE TABLE IF NOT EXISTS `batch_upload_items` (
	`batch` bigint NOT NULL,
	`userid` bigint NOT NULL,
	`id` varchar(64) NOT NULL,
	`sortindex` int,
	`payload` mediumtext,
	`payload_size` int,
	`ttl_offset` int,
	PRIMARY KEY(`batch`,`userid`,`id`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_bin;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS `batch_uploads` (
	`batch` bigint NOT NULL,
	`userid` bigint NOT NULL,
	`collection` int NOT NULL,
	PRIMARY KEY(`batch`,`userid`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_bin;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS `bso` (
	`userid` bigint NOT NULL,
	`collection` int NOT NULL,
	`id` varchar(64) NOT NULL,
	`sortindex` int,
	`payload` mediumtext NOT NULL,
	`payload_size` int DEFAULT 0,
	`modified` bigint NOT NULL,
	`ttl` bigint NOT NULL,
	PRIMARY KEY(`userid`,`collection`,`id`),
	KEY `bso_expiry_idx` (`ttl`),
	KEY `bso_usr_col_mod_idx` (`userid`,`collection`,`modified`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_bin;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS `collections` (
	`id` int AUTO_INCREMENT NOT NULL,
	`name` varchar(32) NOT NULL,
	PRIMARY KEY(`id`),
	CONSTRAINT `name` UNIQUE(`name`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_bin;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS `user_collections` (
	`userid` bigint NOT NULL,
	`collection` int NOT NULL,
	`last_modified` bigint NOT NULL,
	`total_bytes` bigint,
	`count` int,
	PRIMARY KEY(`userid`,`collection`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_bin;
--> statement-breakpoint
INSERT IGNORE INTO `collections` (`id`, `name`) VALUES (1, 'clients'), (2, 'crypto'), (3, 'forms'), (4, 'history'), (5, 'keys'), (6, 'meta'), (7, 'bookmarks'), (8, 'prefs'), (9, 'tabs'), (10, 'passwords'), (11, 'addons'), (12, 'addresses'), (13, 'creditcards'), (100, '');
