-- A small CRM database, loaded on first boot (cloud-init runcmd), reachable over the network.
CREATE DATABASE IF NOT EXISTS crm;
USE crm;
CREATE TABLE IF NOT EXISTS customers (
  id INT PRIMARY KEY AUTO_INCREMENT,
  name VARCHAR(80) NOT NULL,
  email VARCHAR(120) NOT NULL,
  phone VARCHAR(32),
  created DATE NOT NULL
);
CREATE TABLE IF NOT EXISTS invoices (
  id INT PRIMARY KEY AUTO_INCREMENT,
  customer_id INT NOT NULL REFERENCES customers(id),
  amount DECIMAL(10,2) NOT NULL,
  paid BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO customers (name, email, phone, created) VALUES
  ('Harbor Logistics', 'ap@harbor-logistics.example', '+1 555 0134', '2021-03-04'),
  ('Green Valley Clinic', 'office@gvclinic.example', '+1 555 0177', '2022-07-19'),
  ('Nordwind Textiles', 'einkauf@nordwind.example', '+49 30 5550192', '2023-01-11');
INSERT INTO invoices (customer_id, amount, paid) VALUES (1, 1840.00, TRUE), (2, 312.50, FALSE), (3, 9120.75, FALSE);
CREATE USER IF NOT EXISTS 'crm'@'%' IDENTIFIED BY 'crm2019';
GRANT ALL PRIVILEGES ON crm.* TO 'crm'@'%';
FLUSH PRIVILEGES;
