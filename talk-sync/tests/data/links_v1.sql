-- A version 1 link store (talk-sync 0.1.0), for the migration test.
CREATE TABLE talk_sync_links (
	id INTEGER NOT NULL, 
	flow VARCHAR(32) NOT NULL, 
	asana_type VARCHAR(32) NOT NULL, 
	asana_gid VARCHAR(64), 
	custompms_type VARCHAR(32) NOT NULL, 
	custompms_id VARCHAR(64), 
	asana_snapshot JSON, 
	custompms_snapshot JSON, 
	origin VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	create_key VARCHAR(200), 
	create_attempt INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_talk_sync_links_asana UNIQUE (asana_type, asana_gid), 
	CONSTRAINT uq_talk_sync_links_custompms UNIQUE (custompms_type, custompms_id), 
	UNIQUE (create_key)
);
CREATE INDEX ix_talk_sync_links_flow ON talk_sync_links (flow);
CREATE INDEX ix_talk_sync_links_status ON talk_sync_links (status);
CREATE TABLE talk_sync_rejects (
	id INTEGER NOT NULL, 
	side VARCHAR(16) NOT NULL, 
	stream VARCHAR(100) NOT NULL, 
	source_key VARCHAR(200) NOT NULL, 
	record JSON NOT NULL, 
	reason TEXT NOT NULL, 
	field VARCHAR(200), 
	attempts INTEGER NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_talk_sync_rejects_record UNIQUE (side, stream, source_key)
);
CREATE TABLE talk_sync_schema_version (
	id INTEGER NOT NULL, 
	version INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO talk_sync_schema_version (id, version) VALUES (1, 1);
INSERT INTO talk_sync_links (flow, asana_type, asana_gid, custompms_type, custompms_id, origin, status, create_key, create_attempt, created_at, updated_at) VALUES ('task_task', 'task', '77', 'task', NULL, 'asana', 'pending', 'talk-sync/asana-task:77/custompms-task/1', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00');
INSERT INTO talk_sync_rejects (side, stream, source_key, record, reason, field, attempts, first_seen, last_seen) VALUES ('custompms', 'task_task', 'asana-task:78', '{}', '422 name too long', 'name', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00');
