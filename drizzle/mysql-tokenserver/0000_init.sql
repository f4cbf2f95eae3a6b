CREATE TABLE IF NOT EXISTS `services` (
	`id` int NOT NULL AUTO_INCREMENT,
	`service` varchar(30) DEFAULT NULL,
	`pattern` varchar(128) DEFAULT NULL,
	PRIMARY KEY (`id`),
	UNIQUE KEY `service` (`service`)
) ENGINE=InnoDB;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS `nodes` (
	`id` bigint NOT NULL AUTO_INCREMENT,
	`service` int NOT NULL,
	`node` varchar(64) NOT NULL,
	`available` int NOT NULL,
	`current_load` int NOT NULL,
	`capacity` int NOT NULL,
	`downed` int NOT NULL,
	`backoff` int NOT NULL,
	PRIMARY KEY (`id`),
	UNIQUE KEY `unique_idx` (`service`, `node`)
) ENGINE=InnoDB;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS `users` (
	`uid` bigint NOT NULL AUTO_INCREMENT,
	`service` int NOT NULL,
	`email` varchar(255) NOT NULL,
	`generation` bigint NOT NULL,
	`client_state` varchar(32) NOT NULL,
	`created_at` bigint NOT NULL,
	`replaced_at` bigint DEFAULT NULL,
	`nodeid` bigint NOT NULL,
	`keys_changed_at` bigint DEFAULT NULL,
	PRIMARY KEY (`uid`),
	KEY `lookup_idx` (`email`, `service`, `created_at`),
	KEY `replaced_at_idx` (`service`, `replaced_at`),
	KEY `node_idx` (`nodeid`)
) ENGINE=InnoDB AUTO_INCREMENT=4 DEFAULT CHARSET=utf8;
--> statement-breakpoint
INSERT IGNORE INTO `services` (`service`, `pattern`) VALUES ('sync-1.5', '{node}/1.5/{uid}');
