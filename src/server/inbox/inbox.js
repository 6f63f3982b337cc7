// The inbox's script, served as /inbox.js (the pages' CSP allows no inline script).
// 1. Forms marked data-validate show their problems next to the fields before they are sent
//    (the server checks every answer again).
// 2. A page marked data-watch asks /inbox/changes whether what it shows has changed (a request
//    resolved through the API, an email link or Slack) and reloads when it has, unless the
//    person has typed something, who is then told instead.
'use strict';

(function () {
  function problem(control) {
    const v = control.validity;
    if (v.valueMissing) return 'This field is required.';
    if (v.badInput || v.stepMismatch) return 'Give a whole number.';
    if (v.rangeUnderflow || v.rangeOverflow) {
      return 'Give a whole number from ' + control.min + ' to ' + control.max + '.';
    }
    if (v.tooLong) return 'This answer is too long.';
    if (!v.valid) return control.validationMessage || 'This answer is not valid.';
    return '';
  }

  function checkField(field) {
    const id = field.dataset.field;
    const out = document.getElementById(id + '-error');
    let message = '';
    const group = field.querySelector('fieldset[data-multiselect]');
    if (group) {
      const chosen = group.querySelectorAll('input[type=checkbox]:checked').length;
      if (group.hasAttribute('data-required') && chosen === 0) {
        message = 'Choose at least one option.';
      }
    } else {
      const control = field.querySelector('input, select, textarea');
      if (control) message = problem(control);
    }
    if (out) out.textContent = message;
    field.classList.toggle('invalid', message !== '');
    return message === '';
  }

  function validate(form) {
    // The browser's own bubbles are replaced by messages in the page, next to each field.
    form.noValidate = true;
    const fields = Array.from(form.querySelectorAll('.field[data-field]'));
    form.addEventListener('submit', function (event) {
      const bad = fields.filter(function (f) { return !checkField(f); });
      if (bad.length > 0) {
        event.preventDefault();
        const first = bad[0].querySelector('input, select, textarea');
        if (first) first.focus();
      }
    });
    fields.forEach(function (f) {
      const recheck = function () { if (f.classList.contains('invalid')) checkField(f); };
      f.addEventListener('input', recheck);
      f.addEventListener('change', recheck);
    });
  }

  function typedSomething() {
    return Array.from(document.querySelectorAll('form textarea, form input, form select')).some(function (c) {
      if (c.type === 'hidden' || c.type === 'submit') return false;
      if (c.type === 'checkbox' || c.type === 'radio') return c.checked !== c.defaultChecked;
      if (c.tagName === 'SELECT') {
        return Array.from(c.options).some(function (o) { return o.selected !== o.defaultSelected; });
      }
      return c.value !== c.defaultValue;
    });
  }

  // A GET of the page's address, never a reload: a page that answered a form post would
  // send the post again.
  function reload() {
    window.location.replace(window.location.href);
  }

  // Once a form is sent, the page is leaving for the answer to it: a reload then would
  // replace that answer (the vote's result) with a plain view of the page. Heard as the event
  // bubbles, after a form's own checks, which may have kept it from being sent.
  let sending = false;
  document.addEventListener('submit', function (event) {
    if (!event.defaultPrevented) sending = true;
  });

  function changed(el) {
    if (sending) return;
    if (!typedSomething()) {
      reload();
      return;
    }
    const note = document.createElement('p');
    note.className = 'card notice ok';
    note.id = 'changed';
    note.setAttribute('role', 'status');
    note.textContent = 'This page has changed since you opened it (it may have been answered elsewhere). ';
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Reload';
    button.addEventListener('click', reload);
    note.appendChild(button);
    el.prepend(note);
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  async function watch(el) {
    let since = el.dataset.digest || '';
    let delay = 1000;
    for (;;) {
      const query = new URLSearchParams({ watch: el.dataset.watch, since: since, wait: el.dataset.wait || '25000' });
      if (el.dataset.id) query.set('id', el.dataset.id);
      try {
        const r = await fetch('/inbox/changes?' + query.toString(), {
          credentials: 'same-origin',
          cache: 'no-store',
          headers: { accept: 'application/json' },
        });
        if (r.status === 401) {
          window.location.href = '/signin';
          return;
        }
        if (!r.ok) throw new Error('status ' + r.status);
        const body = await r.json();
        delay = 1000;
        if (body.changed) {
          changed(el);
          return;
        }
        since = body.digest;
      } catch (_) {
        // The server may be restarting: ask again, less and less often.
        await sleep(delay);
        delay = Math.min(delay * 2, 30000);
      }
    }
  }

  document.querySelectorAll('form[data-validate]').forEach(validate);
  const watched = document.querySelector('[data-watch]');
  if (watched) watch(watched);
})();
