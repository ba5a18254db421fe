RUN SCRIPT 'foo';
