// Live progress for the runs pages: runs changed on the server arrive as server-sent
// events (`/api/live`, event `run`, data: the run's line of `ocfl runs --json`), and the
// matching cells are rewritten in place. Everything is written with textContent: ids,
// paths and messages are user content.
(function () {
  'use strict';

  function human(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var unit = 0;
    var value = n;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? n + ' B' : value.toFixed(1) + ' ' + units[unit];
  }

  function segment(value) {
    if (value === '.' || value === '..') {
      return value.replace(/\./g, '%2E');
    }
    return encodeURIComponent(value);
  }

  var live = document.querySelector('[data-live]');
  if (!live || !window.EventSource) {
    return;
  }
  var samples = {};
  var received = 0;

  function cells(run) {
    return Array.prototype.filter.call(document.querySelectorAll('[data-run]'), function (el) {
      return el.getAttribute('data-run') === run;
    });
  }

  function fieldsOf(run) {
    var fields = {};
    cells(run).forEach(function (el) {
      var field = el.getAttribute('data-field');
      if (field) {
        fields[field] = el;
      }
      Array.prototype.forEach.call(el.querySelectorAll('[data-field]'), function (inner) {
        fields[inner.getAttribute('data-field')] = inner;
      });
    });
    return fields;
  }

  function link(href, text) {
    var a = document.createElement('a');
    a.href = href;
    a.textContent = text;
    return a;
  }

  function actionForm(run, action, label) {
    var form = document.createElement('form');
    form.className = 'action';
    form.method = 'post';
    form.action = '/runs/' + segment(run) + '/' + action;
    var csrf = document.createElement('input');
    csrf.type = 'hidden';
    csrf.name = 'csrf';
    csrf.value = live.getAttribute('data-csrf') || '';
    var button = document.createElement('button');
    button.type = 'submit';
    button.setAttribute('data-action', action);
    button.textContent = label;
    form.appendChild(csrf);
    form.appendChild(button);
    return form;
  }

  function insertRow(line) {
    var body = live.querySelector('tbody');
    if (!body || live.getAttribute('data-insert') !== 'true' || line.ended) {
      return;
    }
    var empty = document.getElementById('no-runs');
    if (empty) {
      empty.remove();
    }
    var row = document.createElement('tr');
    row.setAttribute('data-run', line.run);
    var columns = ['run', 'id', 'state', 'phase', 'steps', 'bytes', 'rate', 'started', 'error', ''];
    columns.forEach(function (name) {
      var cell = document.createElement('td');
      if (name === 'run') {
        cell.appendChild(link('/runs/' + segment(line.run), line.run));
      } else if (name === 'id') {
        cell.appendChild(link('/objects/' + segment(line.id), line.id));
      } else if (name === 'started') {
        cell.textContent = line.started || '';
      } else if (name) {
        cell.setAttribute('data-field', name);
      } else if (live.getAttribute('data-actions') === 'true') {
        cell.appendChild(actionForm(line.run, 'resume', 'Resume'));
        cell.appendChild(actionForm(line.run, 'terminate', 'Terminate'));
      }
      row.appendChild(cell);
    });
    body.appendChild(row);
  }

  function update(line) {
    var fields = fieldsOf(line.run);
    if (!fields.state) {
      insertRow(line);
      fields = fieldsOf(line.run);
    }
    var now = Date.now();
    if (fields.state) {
      fields.state.textContent = line.state;
      fields.state.className = 'state ' + line.state;
    }
    if (fields.phase) {
      fields.phase.textContent = line.phase || '';
    }
    if (fields.steps) {
      fields.steps.textContent = line.steps_done + '/' + line.steps_total;
    }
    if (fields.bytes) {
      fields.bytes.textContent = human(line.bytes_done) + ' / ' + human(line.bytes_total);
    }
    if (fields.error) {
      fields.error.textContent = line.error || '';
    }
    var before = samples[line.run];
    if (fields.rate && before && now > before.at) {
      var rate = (line.bytes_done - before.bytes) * 1000 / (now - before.at);
      fields.rate.textContent = rate > 0 ? human(Math.round(rate)) + '/s' : '';
    }
    samples[line.run] = { bytes: line.bytes_done, at: now };
    received += 1;
    document.body.setAttribute('data-live-events', String(received));
  }

  var source = new EventSource('/api/live');
  source.addEventListener('run', function (event) {
    var line;
    try {
      line = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (line && typeof line.run === 'string') {
      update(line);
    }
  });
}());
